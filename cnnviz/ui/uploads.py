"""Dataset uploads on the pages: what fits (said before the upload), the uploaders' limits, and
releasing the uploaded bytes Streamlit keeps in the server's memory once they are read.

Photos keep their 20 MB per file (``server.maxUploadSize`` in ``.streamlit/config.toml`` must be at
least the dataset limit: it is the server's ceiling for every upload, each uploader narrows it).
"""

from __future__ import annotations

import streamlit as st

from cnnviz import images
from cnnviz.homework import intake
from cnnviz.ui import t


def photo_limit_mb() -> int:
    return images.MAX_UPLOAD_BYTES // (1024 * 1024)


def fits_caption(zip_only: bool = False) -> str:
    """Limits, formats and layout of a dataset upload, in the UI language (``zip_only``: Labs)."""
    fmts = ", ".join(dict.fromkeys(e.upper() for e in images.ACCEPTED_EXTENSIONS if e not in ("jfif", "mpo", "apng")))
    return t("homework.page.fits_zip" if zip_only else "homework.page.fits", zip_mb=intake.upload_limit_mb(), photo_mb=photo_limit_mb(),
             files=intake.MAX_MEMBERS, formats=fmts, budget_mb=intake.budget_bytes() // 2**20, side=intake.MAX_SIDE)


def release(files) -> None:
    """Drop the uploaded files' bytes from Streamlit's upload store now (it would keep them until
    the uploader is cleared); the page bumps the uploader's key so the widget forgets them too."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover - a Streamlit without it
        return
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    for f in files if isinstance(files, (list, tuple)) else [files]:
        file_id = getattr(f, "file_id", None)
        if file_id:
            ctx.uploaded_file_mgr.remove_file(ctx.session_id, file_id)


def generation(key: str) -> int:
    """The uploader's current key suffix (bumped by :func:`forget`)."""
    return int(st.session_state.get(key + "_gen", 0))


def forget(key: str, files) -> None:
    """Release ``files`` and give the uploader a new key: the next run shows it empty."""
    release(files)
    st.session_state[key + "_gen"] = generation(key) + 1
