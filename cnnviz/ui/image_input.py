"""The image picker shared by the Classify and Visualize pages.

One widget group, three sources, in tabs: upload a file, take a photo with the camera
(behind a toggle, so the browser asks for the camera only when wanted), or click one
of the bundled sample photos. Whichever source was used last wins, and choosing one
clears the others, so only one is ever "selected".

The choice lives in ``st.session_state`` under a key derived from ``key`` (not in the
widgets), so it survives reruns *and* a trip to another page: two pages that call
``image_input("image")`` share the student's photo. Decoding is cached by the SHA-256
of the file's bytes (``st.cache_data``), so reruns never decode again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st
from PIL import Image

from cnnviz import images, samples
from cnnviz.ui import error_message, t

PREVIEW_WIDTH = 320


@dataclass
class _Choice:
    """What the person picked last (stored in session_state, never a widget value)."""

    source: str | None = None  # "upload" | "camera" | "sample" | None
    name: str = ""  # file name for uploads
    data: bytes | None = None  # file bytes for upload/camera
    digest: str = ""  # sha256 of data: the decode cache key
    sample: str = ""  # sample name
    upload_nonce: int = 0  # bumping it gives a fresh (empty) file uploader
    camera_nonce: int = 0

    def clear(self) -> None:
        self.source, self.name, self.data, self.digest, self.sample = None, "", None, "", ""


def _choice(key: str) -> _Choice:
    state_key = f"cnnviz.image_input.{key}"
    if state_key not in st.session_state:
        st.session_state[state_key] = _Choice()
    return st.session_state[state_key]


def _upload_key(key: str, choice: _Choice) -> str:
    return f"{key}.upload.{choice.upload_nonce}"


def _camera_key(key: str, choice: _Choice) -> str:
    return f"{key}.camera.{choice.camera_nonce}"


def _sample_key(key: str) -> str:
    return f"{key}.sample"


def _take_file(choice: _Choice, source: str, uploaded) -> None:
    data = uploaded.getvalue()
    choice.source, choice.name, choice.data, choice.sample = source, uploaded.name, data, ""
    choice.digest = hashlib.sha256(data).hexdigest()


def _on_file(key: str, source: str) -> None:
    """A file arrived from (or was removed from) the uploader or the camera: the last choice wins."""
    choice = _choice(key)
    widget_key, other = ((_upload_key(key, choice), "camera_nonce") if source == "upload"
                         else (_camera_key(key, choice), "upload_nonce"))
    data = st.session_state.get(widget_key)
    if data is not None:
        _take_file(choice, source, data)
        st.session_state[_sample_key(key)] = None
        setattr(choice, other, getattr(choice, other) + 1)  # a new key empties the other widget
    elif choice.source == source:  # the person removed the file
        choice.clear()


def _on_sample(key: str) -> None:
    choice = _choice(key)
    name = st.session_state.get(_sample_key(key))
    if name:
        choice.clear()
        choice.source, choice.sample = "sample", name
        choice.upload_nonce += 1
        choice.camera_nonce += 1
    elif choice.source == "sample":
        choice.clear()


# A decoded 2048 px image is ~9 MB in the cache: 24 of them (a class's worth of recent
# uploads) stay under ~250 MB; older ones are simply decoded again.
@st.cache_data(max_entries=24, ttl=3600, show_spinner=False)
def _decode_bytes(digest: str, _data: bytes, max_side: int | None) -> tuple:
    """Decode once per distinct file (keyed by ``digest``; ``_data`` is not hashed).

    Errors are cached too, as (key, params), since exceptions are not cacheable values.
    """
    try:
        return ("ok", images.decode_image(_data, max_side=max_side))
    except images.ImageError as exc:
        return ("error", exc.key, exc.params)


@st.cache_data(max_entries=16, show_spinner=False)
def _decode_sample(name: str, max_side: int | None) -> images.DecodedImage:
    return samples.decode_sample(name, max_side=max_side)


def _caption(decoded: images.DecodedImage, label: str) -> str:
    width, height = decoded.original_size
    text = t("images.input.caption", name=label, format=decoded.format or "?", width=width, height=height,
             mode=decoded.original_mode)
    if decoded.resized:
        text += t("images.input.caption_resized", width=decoded.image.width, height=decoded.image.height)
    if decoded.orientation != 1:
        text += t("images.input.caption_rotated", orientation=decoded.orientation)
    if decoded.animated:
        text += t("images.input.caption_animated")
    return text


def image_input(key: str, *, max_side: int | None = images.PAGE_MAX_SIDE,
                preview: bool = True) -> tuple[Image.Image, str] | None:
    """Upload / camera / sample picker.

    Args:
        key: a name unique on the page; pages that pass the same key share the picture.
        max_side: longest side of the returned image (default :data:`cnnviz.images.PAGE_MAX_SIDE`; None:
            :data:`cnnviz.images.DEFAULT_MAX_SIDE`).
        preview: show a thumbnail; the caption (original size, mode, format) is shown either way.

    Returns:
        ``(rgb_image, label)`` where label is the file name, "Camera photo" or the sample's
        name, or None when nothing is chosen yet or the file cannot be used (the reason is
        shown with ``st.error``).
    """
    choice = _choice(key)
    if choice.source == "sample" and _sample_key(key) not in st.session_state:
        # Back from another page: the pills widget was reset, the choice was not.
        st.session_state[_sample_key(key)] = choice.sample

    tab_upload, tab_camera, tab_samples = st.tabs(
        [t("images.input.tab_upload"), t("images.input.tab_camera"), t("images.input.tab_samples")])
    with tab_upload:
        st.file_uploader(
            t("images.input.uploader"),
            type=list(images.ACCEPTED_EXTENSIONS),
            key=_upload_key(key, choice),
            on_change=_on_file,
            args=(key, "upload"),
            help=t("images.input.uploader_help", limit_mb=images.MAX_UPLOAD_BYTES // (1024 * 1024)),
            max_upload_size=images.MAX_UPLOAD_BYTES // (1024 * 1024),  # the server's ceiling is the dataset limit
        )
    with tab_camera:
        if st.toggle(t("images.input.camera_toggle"), key=f"{key}.camera_on",
                     help=t("images.input.camera_toggle_help")):
            st.camera_input(t("images.input.camera"), key=_camera_key(key, choice), on_change=_on_file,
                            args=(key, "camera"))
    with tab_samples:
        # A plain dict, not a lambda calling t(): the labels are fixed for this run, and
        # AppTest calls format_func outside the script run (no session language there).
        labels = {name: t(f"images.sample.{name}") for name in samples.list_samples()}
        picked = st.pills(
            t("images.input.samples"),
            list(labels),
            format_func=labels.__getitem__,
            selection_mode="single",
            key=_sample_key(key),
            on_change=_on_sample,
            args=(key,),
        )
        if picked:
            st.caption(t(f"images.credit.{picked}"))

    if choice.source is None:
        st.caption(t("images.input.none"))
        return None

    if choice.source == "sample":
        label = t(f"images.sample.{choice.sample}")
        try:
            decoded = _decode_sample(choice.sample, max_side)
        except samples.SampleError as exc:
            st.error(error_message(exc))
            return None
    else:
        label = choice.name if choice.source == "upload" else t("images.input.camera_name")
        result = _decode_bytes(choice.digest, choice.data or b"", max_side)
        if result[0] == "error":
            st.error(error_message(images.ImageError(result[1], **result[2])))
            return None
        decoded = result[1]

    caption = _caption(decoded, label)
    if preview:
        # Fit a PREVIEW_WIDTH square, so a portrait phone photo does not fill the screen.
        w, h = decoded.image.size
        st.image(decoded.image, width=max(1, min(PREVIEW_WIDTH, w, round(PREVIEW_WIDTH * w / h))))
    st.caption(caption)
    return decoded.image, label
