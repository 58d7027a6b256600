"""Frame descriptions from an image-to-text model in a local folder (BLIP, GIT, a
VisionEncoderDecoder ...), for people who have one: no such model ships on PyPI, so by
default frames are described from what can be measured."""

from __future__ import annotations

from pathlib import Path

from ripple.errors import ModelError

MAX_NEW_TOKENS = 30


class Describer:
    """Fills in each keyframe's `caption`; an Inspector for `frames.keyframes`."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelError(f"{folder}: not an image-to-text model folder (no config.json)")
        try:
            from transformers import pipeline

            self.pipe = pipeline("image-to-text", model=str(folder), device="cpu")
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{folder}: cannot load it as an image-to-text model: {str(exc).splitlines()[0]}") from None

    def __call__(self, frame, keyframe) -> None:
        import cv2
        from PIL import Image

        image = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        result = self.pipe(image, generate_kwargs={"max_new_tokens": MAX_NEW_TOKENS})
        keyframe.caption = " ".join(result[0]["generated_text"].split()) if result else ""
