"""cnnviz: entry point. `streamlit run app.py`"""

import streamlit as st

if __name__ != "__main__":
    # `streamlit run app.py` imports this file to look for an ASGI app before serving it: the
    # app's lifespan loads and warms the homework models at server start, before any page
    # visit, and GET /api/cnnviz/status reports their readiness (cnnviz.ui.serving).
    from cnnviz.ui import serving as _serving

    app = st.App(__file__, lifespan=_serving.lifespan, routes=_serving.routes())
else:
    from cnnviz import ui
    from cnnviz.ui import serving

    st.set_page_config(page_title="cnnviz", page_icon="🧠", layout="wide")

    pages = [
        st.Page(file, title=ui.t(f"nav.{page_id}"), icon=icon, url_path=page_id, default=page_id == "home")
        for page_id, (file, icon) in ui.PAGES.items()
    ]
    navigation = st.navigation(pages)
    ui.sidebar(serving.sidebar_status)
    navigation.run()
