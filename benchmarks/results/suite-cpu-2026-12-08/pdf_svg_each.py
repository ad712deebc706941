"""WeasyPrint CPU seconds to lay out each SVG chart of a report alone (a page with one <img>, 16 cm wide;
the second of two layouts), with the SVG's size and its counts of <path>, <use> and pattern.
Usage: python pdf_svg_each.py REPORT.html"""
import re, sys, time, base64
from pathlib import Path
from weasyprint import HTML
html = Path(sys.argv[1]).read_text()
uris = re.findall(r'src="(data:image/svg\+xml;base64,[^"]+)"', html)
print(len(uris))
for i, u in enumerate(uris):
    svg = base64.b64decode(u.split(",",1)[1]).decode()
    doc = f'<html><body><img src="{u}" style="width:16cm"></body></html>'
    HTML(string=doc).write_pdf()
    t = time.process_time(); HTML(string=doc).write_pdf(); d = time.process_time() - t
    print(i, len(svg), svg.count("<path"), svg.count("<use"), svg.count("pattern"), round(d, 3), re.findall(r'<title>(.*?)</title>', svg)[:1])
