"""The style guide's page: every field of the terms table has a name a screen reader says."""

import re

from fastapi.testclient import TestClient

from app.brands.models import Brand

GUIDE = b"- Prefer: calfskin (not: leather, cowhide)\n- Avoid: cheap, bargain\n"


def test_every_field_of_the_terms_table_is_named(client: TestClient, brand: Brand) -> None:
    client.post("/api/v1/brands/maison/styleguides", files={"file": ("g.md", GUIDE)})
    page = client.get("/brands/maison/styleguide").text
    table = page[page.index('<table class="terms">') : page.index("</table>")]
    fields = re.findall(r"<(?:input|select)\b[^>]*>", table)
    assert len(fields) == 4 * 3 + 3 * 3  # three terms with their "remove" box, three new rows
    unnamed = [f for f in fields if "aria-label=" not in f]
    assert unnamed == []
    assert 'aria-label="Words calfskin replaces"' in table
