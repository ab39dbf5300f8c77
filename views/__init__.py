"""The app's pages. Streamlit runs each file by path (st.Page in app.py); this file only makes
the folder a package, so the import linter (.importlinter) can check what pages import."""
