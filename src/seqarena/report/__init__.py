"""Reports: matplotlib SVG plots (plots.py) rendered into self-contained HTML and Markdown (render.py)."""
