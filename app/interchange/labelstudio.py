"""Label Studio's JSON export read: each task's image name, caption (TextArea) and tags
(Choices, Taxonomy) from its latest annotation that was not cancelled.

The export is a list of tasks, `{"id", "data": {"image": ...}, "annotations": [{"result":
[...], "was_cancelled", "created_at", "updated_at"}], ...}`; a result item is
`{"type": "textarea", "value": {"text": [...]}}`, `{"type": "choices", "value": {"choices":
[...]}}` or `{"type": "taxonomy", "value": {"taxonomy": [[parent, ..., leaf], ...]}}`.
"""

import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from app.errors import Invalid

# Label Studio names an uploaded file `str(uuid4())[:8] + "-" + original name`.
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(?=.)")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class LabelledTask:
    """One task of the export: which image, and what its annotator wrote and chose."""

    where: str  # "task 12", for messages
    image: str  # the image's file name as Label Studio stored it, without folders
    caption: str
    tags: tuple[str, ...]


def labelstudio_tasks(text: bytes) -> tuple[list[LabelledTask], list[tuple[str, str]]]:
    """Parse an export into its tasks and the tasks we cannot use (where, why); raise Invalid
    when the file as a whole is not a Label Studio JSON export."""
    document = _document(text)
    tasks: list[LabelledTask] = []
    refused: list[tuple[str, str]] = []
    for number, task in enumerate(document, start=1):
        where = f"task {task['id']}" if _is_key(task.get("id")) else f"task #{number}"
        image = _image_reference(task["data"])
        if image is None:
            refused.append((where, "its data names no image file"))
            continue
        caption, tags = _annotation_values(_latest_annotation(task))
        tasks.append(LabelledTask(where=where, image=image, caption=caption, tags=tags))
    return tasks, refused


def upload_name(name: str) -> str:
    """A file name without Label Studio's upload prefix (`1a2b3c4d-shoe.jpg` is `shoe.jpg`)."""
    return _UPLOAD_PREFIX.sub("", name, count=1)


def _document(text: bytes) -> list[dict[str, Any]]:
    """The export's list of tasks, each an object with a `data` object, or Invalid."""
    try:
        document = json.loads(text.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise Invalid("the Label Studio export is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"the Label Studio export is not valid JSON (line {exc.lineno}, column "
            f"{exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(document, list):
        raise Invalid(
            "a Label Studio JSON export is a list of tasks; export the project as JSON "
            "(not JSON-MIN or CSV)"
        )
    for number, task in enumerate(document, start=1):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise Invalid(f'task #{number} of the Label Studio export has no "data" object')
        if not isinstance(task.get("annotations", []), list):
            raise Invalid(f'task #{number} of the Label Studio export: "annotations" is not a list')
    return document


def _image_reference(data: dict[str, Any]) -> str | None:
    """The task's image file name: `data.image`, else the first value naming an image file."""
    image = data.get("image")
    if isinstance(image, str) and (name := _file_name(image)):
        return name
    for value in data.values():
        if isinstance(value, str) and (name := _file_name(value)).lower().endswith(_IMAGE_SUFFIXES):
            return name
    return None


def _file_name(reference: str) -> str:
    """The file name in an upload path, a URL, or a local-files URL (`?d=folder/name.jpg`)."""
    if reference.startswith("data:"):  # an image inlined as base64 has no file to match
        return ""
    parsed = urlparse(reference)
    local = parse_qs(parsed.query).get("d")
    path = local[0] if local else unquote(parsed.path)
    return posixpath.basename(path.replace("\\", "/"))


def _latest_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    """The task's newest annotation that was not cancelled (skipped), if any."""
    kept = [
        (str(a.get("updated_at") or a.get("created_at") or ""), index, a)
        for index, a in enumerate(task.get("annotations") or [])
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    return max(kept, key=lambda k: k[:2])[2] if kept else None


def _annotation_values(annotation: dict[str, Any] | None) -> tuple[str, tuple[str, ...]]:
    """The first TextArea's text as the caption, every Choices/Taxonomy pick as a tag."""
    caption: str | None = None
    tags: list[str] = []
    for item in _results(annotation):
        kind, value = str(item.get("type", "")).lower(), item["value"]
        if kind == "textarea" and caption is None:
            caption = _text(value.get("text")) or None
        elif kind in ("choices", "taxonomy"):
            tags.extend(_leaves(value.get(kind) or value.get("choices")))
    return caption or "", tuple(dict.fromkeys(tags))


def _results(annotation: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    result = annotation.get("result") if annotation else None
    for item in result if isinstance(result, list) else []:
        if isinstance(item, dict) and isinstance(item.get("value"), dict):
            yield item


def _text(value: Any) -> str:
    """A TextArea's lines (a list, or one string) as one caption."""
    lines = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return " ".join(line.strip() for line in lines if isinstance(line, str) and line.strip())


def _leaves(value: Any) -> Iterator[str]:
    """Choices as they are; a taxonomy path (`["Bags", "Tote"]`) as its leaf."""
    for pick in value if isinstance(value, list) else []:
        if isinstance(pick, list) and pick and isinstance(pick[-1], str):
            pick = pick[-1]
        if isinstance(pick, str) and pick.strip():
            yield pick.strip()


def _is_key(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)
