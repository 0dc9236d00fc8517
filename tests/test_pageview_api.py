"""The page view's REST routes on a real `qa serve` (with a login), and CASES.md 39: the page route
is not a file server.

`GET /api/context` gives a citation in its place with the cited lines' boxes, checked against the
characters' coordinates (pdfplumber); `GET /api/page` a PNG bounded in pixels. Every bad request
(a document the index does not hold, `../` and absolute paths, a file beside the corpus, page 0,
-1, 10**9 or "x", a huge zoom) is a clear 4xx in the API's error shape; the routes answer only
through the same Host, login and size guards as `/api/ask`; 1,000 page requests keep memory flat.
"""

from __future__ import annotations

import io
import shutil
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
from PIL import Image

from tests.conftest import ARTICLE
from tests.fixtures_formats import make_pdf
from tests.pdfmaker import text_pdf
from tests.test_pageview import near, plumber_lines
from tests.uiserver import Server, start, stop

USER, PASSWORD = "reader", "page-v1ew-pw"
AUTH = (USER, PASSWORD)
PDF = "corpus/board-report.pdf"
DREDGED = "How deep was the harbour channel dredged?"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    root = tmp_path_factory.mktemp("pageview-api")
    incoming = root / "incoming"
    incoming.mkdir()
    shutil.copy(ARTICLE, incoming / ARTICLE.name)
    make_pdf(incoming)
    run = root / "run"
    run.mkdir()
    # beside the served corpus, and in the server's working folder: never to be served
    text_pdf(run / "secret.pdf", ["The vault code is 4417."])
    s = start(run, incoming, args=["--auth", f"{USER}:{PASSWORD}"])
    yield s
    stop(s)


def get(server: Server, route: str, auth: tuple[str, str] | None = AUTH, **kwargs) -> httpx.Response:
    return httpx.get(server.url + route.lstrip("/"), auth=auth, timeout=60, **kwargs)


def test_the_context_of_a_pdf_citation_has_its_page_and_the_cited_lines_boxes(server):
    r = httpx.post(server.url + "api/ask", json={"question": DREDGED}, auth=AUTH, timeout=60)
    assert r.status_code == 200, r.text
    c = r.json()["answer"]["citation"]
    assert c["doc"] == PDF and c["page"] == 2
    r = get(server, "api/context", params={"doc": c["doc"], "start": c["start"], "end": c["end"]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    ctx = r.json()
    assert ctx["page"] == 2 and ctx["page_count"] == 3 and ctx["text"][slice(*ctx["highlight"])].startswith("A second")
    (marked,) = ctx["boxes"]
    assert marked["page"] == 2 and len(marked["boxes"]) == 2
    lines = dict(plumber_lines(server.corpus / "board-report.pdf", 2))
    first = lines["A second project dredged the harbour channel to a depth of eleven metres so that"]
    second = lines["grain ships could reach the Quillon quay at low tide. The dredging took four months and the"]
    assert near(tuple(marked["boxes"][0]), first)
    left, top, right, bottom = marked["boxes"][1]
    assert near((left, top, bottom), (second[0], second[1], second[3])) and right < second[2] - 0.2  # ends at "tide."
    # the same by passage id; a citation the index does not hold is a 404
    same = get(server, "api/context", params={"passage_id": c["passage_id"]}).json()
    assert same["paragraph"] == ctx["paragraph"] and same["page"] == 2
    gone = get(server, "api/context", params={"doc": PDF, "start": 10**6, "end": 10**6 + 5})
    assert gone.status_code == 404 and gone.json() == {
        "error": "That citation is not in the current index; ask the question again."}


def test_a_page_is_a_png_bounded_in_pixels(server):
    r = get(server, "api/page", params={"doc": PDF, "page": 2})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["x-page"] == "2" and r.headers["x-pages"] == "3" and r.headers["x-image-size"] == "893x1263"
    assert Image.open(io.BytesIO(r.content)).size == (893, 1263)
    big = get(server, "api/page", params={"doc": "board-report.pdf", "page": "3", "zoom": "6"})
    assert big.status_code == 200 and max(Image.open(io.BytesIO(big.content)).size) == 2500


@pytest.mark.parametrize(("params", "status", "message"), [
    ({"doc": "corpus/nothing-here.pdf", "page": "1"}, 404, "No document is called 'corpus/nothing-here.pdf'"),
    ({"doc": "../secret.pdf", "page": "1"}, 404, "No document is called '../secret.pdf'"),
    ({"doc": "corpus/../secret.pdf", "page": "1"}, 404, "No document is called"),
    ({"doc": "secret.pdf", "page": "1"}, 404, "No document is called 'secret.pdf'"),
    ({"doc": "../../../../etc/passwd", "page": "1"}, 404, "No document is called"),
    ({"doc": "/etc/passwd", "page": "1"}, 404, "No document is called"),
    ({"doc": "corpus/china-and-north-korea-the-uneasy-partnership.txt", "page": "1"}, 404,
     "corpus/china-and-north-korea-the-uneasy-partnership.txt is not a PDF; it has no pages to draw."),
    ({"doc": PDF, "page": "0"}, 404, "There is no page 0: the document has 3 pages (1 to 3)."),
    ({"doc": PDF, "page": "-1"}, 404, "There is no page -1: the document has 3 pages (1 to 3)."),
    ({"doc": PDF, "page": str(10**9)}, 404, "There is no page 1000000000"),
    ({"doc": PDF, "page": "x"}, 422, "page must be a whole number."),
    ({"doc": PDF, "page": "1.5"}, 422, "page must be a whole number."),
    ({"doc": PDF, "page": "9" * 40}, 422, "page must be a whole number."),
    ({"doc": PDF}, 422, "page is required"),
    ({"page": "1"}, 422, "doc is required"),
    ({"doc": "x" * 5000, "page": "1"}, 422, "doc is required"),
    ({"doc": PDF, "page": "1", "zoom": "1e9"}, 422, "zoom must be a number (1 is 72 dpi)."),
    ({"doc": PDF, "page": "1", "zoom": "100000"}, 422, "zoom must be a number from 0.25 to 6 (1 is 72 dpi)."),
    ({"doc": PDF, "page": "1", "zoom": "0"}, 422, "zoom must be a number from 0.25 to 6"),
    ({"doc": PDF, "page": "1", "zoom": "nan"}, 422, "zoom must be a number (1 is 72 dpi)."),
    ({"doc": PDF, "page": "1", "path": "/etc/passwd"}, 400, 'Unknown parameter "path"'),
])
def test_a_bad_page_request_is_a_clear_4xx(server, params, status, message):
    r = get(server, "api/page", params=params)
    assert r.status_code == status and r.headers["content-type"] == "application/json", r.text
    assert set(r.json()) == {"error"} and r.json()["error"].startswith(message), r.json()
    assert "4417" not in r.text and str(server.corpus.parent) not in r.text  # nothing read, no server path


def test_no_file_outside_the_corpus_is_served_by_any_spelling(server):
    secret = server.corpus.parent / "secret.pdf"
    assert secret.exists()
    for name in (str(secret), secret.as_uri(), "%2e%2e%2fsecret.pdf", "..%2fsecret.pdf", "corpus/./../secret.pdf",
                 "corpus\\..\\secret.pdf", "secret.pdf\x00.pdf"):
        r = get(server, "api/page", params={"doc": name, "page": "1"})
        assert r.status_code == 404 and not r.content.startswith(b"\x89PNG"), (name, r.text)
    raw = httpx.get(server.url + "api/page?doc=..%2Fsecret.pdf&page=1", auth=AUTH, timeout=30)
    assert raw.status_code == 404
    for name in (str(secret), "../secret.pdf"):
        r = get(server, "api/context", params={"doc": name, "start": 0, "end": 5})
        assert r.status_code == 404


@pytest.mark.parametrize("bad_context", [
    ({}, 422, "Give a citation"),
    ({"doc": PDF, "start": "1"}, 422, "start and end are both required"),
    ({"doc": PDF, "start": "a", "end": "5"}, 422, "start must be a whole number."),
    ({"passage_id": "10000000"}, 404, "That citation is not in the current index"),
    ({"passage_id": "1", "file": "/etc/passwd"}, 400, 'Unknown parameter "file"'),
])
def test_a_bad_context_request_is_a_clear_4xx(server, bad_context):
    params, status, message = bad_context
    r = get(server, "api/context", params=params)
    assert r.status_code == status and r.json()["error"].startswith(message), r.text


def test_the_routes_answer_only_through_the_login_host_and_size_guards(server):
    for route in ("api/page?doc=board-report.pdf&page=1", "api/context?passage_id=1"):
        r = get(server, route, auth=None)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        assert get(server, route, auth=(USER, "wrong")).status_code == 401
        assert get(server, route, headers={"Host": "evil.example"}).status_code == 400
        big = httpx.request("GET", server.url + route, auth=AUTH, timeout=30, content=b"x" * (2 << 20),
                            headers={"content-type": "application/octet-stream"})
        assert big.status_code == 413 and "too large" in big.json()["error"]
        assert httpx.post(server.url + route, auth=AUTH, timeout=30).status_code == 405
        assert get(server, route).status_code == 200


def test_the_openapi_document_describes_both_routes(server):
    spec = get(server, "openapi.json").json()
    page, context = spec["paths"]["/api/page"]["get"], spec["paths"]["/api/context"]["get"]
    assert "image/png" in page["responses"]["200"]["content"]
    assert {"200", "400", "401", "404", "422"} <= set(page["responses"]) and {"404"} <= set(context["responses"])
    assert [p["name"] for p in page["parameters"]] == ["doc", "page", "zoom"]
    assert spec["components"]["schemas"]["Context"]["properties"]["boxes"]["type"] == "array"


@pytest.mark.slow
def test_a_thousand_page_requests_keep_memory_flat(server):
    """Many pages at once, in a loop: 120 different images (3 pages x 40 zooms), more than the
    cache keeps (64), asked 1,000 times from four threads; the server's memory stays flat. The
    requests share one keep-alive client, as a browser's would (a new client for each request, with
    its own connection and SSL context, made the client the test's main cost)."""
    process = psutil.Process(server.proc.pid)
    asks = [{"doc": PDF, "page": str(1 + i % 3), "zoom": f"{0.5 + (i // 3 % 40) * 0.025:.3f}"} for i in range(1000)]
    assert len({(a["page"], round(float(a["zoom"]), 3)) for a in asks}) == 120  # as the cache keys them

    with httpx.Client(auth=AUTH, timeout=60) as client, ThreadPoolExecutor(4) as pool:
        def fetch(params: dict[str, str]) -> int:
            return client.get(server.url + "api/page", params=params).status_code

        assert set(pool.map(fetch, asks[:150])) == {200}  # warm: the cache full, the allocator settled
        before = process.memory_info().rss
        assert set(pool.map(fetch, asks)) == {200}
        after = process.memory_info().rss
    grown = (after - before) / 2**20
    print(f"\nserver RSS before {before / 2**20:.1f} MiB, after 1,000 page requests {after / 2**20:.1f} MiB")
    assert grown < 25, f"the server grew by {grown:.1f} MiB over 1,000 page requests"
