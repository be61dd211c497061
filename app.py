"""cnnviz: entry point. `streamlit run app.py`"""

import streamlit as st

if __name__ != "__main__":
    # `streamlit run app.py` imports this file to look for an ASGI app before serving it: the
    # app's lifespan loads and warms the homework models at server start, before any page
    # visit, and GET /api/cnnviz/status reports their readiness (cnnviz.ui.server_hooks).
    from cnnviz.ui import server_hooks as _hooks

    app = st.App(__file__, lifespan=_hooks.lifespan, routes=_hooks.routes())
else:
    from cnnviz import ui
    from cnnviz.ui import owners, server_hooks

    st.set_page_config(page_title="cnnviz", page_icon="🧠", layout="wide")

    pages = [
        st.Page(file, title=ui.t(f"nav.{page_id}"), icon=icon, url_path=page_id, default=page_id == "home")
        for page_id, (file, icon) in ui.PAGES.items()
    ]
    navigation = st.navigation(pages)
    ui.sidebar(server_hooks.sidebar_status, owners.sidebar)
    navigation.run()
    server_hooks.page_drawn()
