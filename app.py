"""cnnviz: entry point. `streamlit run app.py`"""

import streamlit as st

from cnnviz import ui

st.set_page_config(page_title="cnnviz", page_icon="🧠", layout="wide")

pages = [
    st.Page(file, title=ui.t(f"nav.{page_id}"), icon=icon, url_path=page_id, default=page_id == "home")
    for page_id, (file, icon) in ui.PAGES.items()
]
navigation = st.navigation(pages)
ui.sidebar()
navigation.run()
