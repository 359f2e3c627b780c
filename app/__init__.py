"""Atelier: a brand's own vision-language model, fine-tuned with QLoRA."""
