"""The chat page and its server: Gradio UI, HTTP guards, uploads, rendering, temporary files."""
