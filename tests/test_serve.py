"""``xpnet serve``: the JSON API (what it answers, what it refuses, under load) and the page in a real browser."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpnet
from xpnet.models import MODELS
from xpnet.server import MAX_BODY, Classifier, Server

from conftest import ROOT, book_file, claiming, encoded

SEED = 0
INSTALL = "apt-get install chromium chromium-driver (as root), then pip install selenium"


@pytest.fixture(scope="module")
def server(mnist_test) -> Iterator[Server]:
    """The three book networks on NumPy, served on a free port of 127.0.0.1 from a thread."""
    images, labels = mnist_test
    backend = xpnet.get_backend("numpy")
    networks = {name: entry.load(backend, book_file(name)) for name, entry in MODELS.items()}
    served = Server(Classifier(backend, networks, images, labels, seed=SEED), "127.0.0.1", 0)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def request(server: Server, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        data = answer.read()
        assert b"Traceback" not in data
        kind = answer.getheader("Content-Type", "")
        return answer.status, json.loads(data) if kind == "application/json" else {"text": data.decode()}
    finally:
        connection.close()


def png_of(digit: np.ndarray, scale: int = 10) -> bytes:
    """A test digit as a user draws one: dark ink on white, enlarged."""
    return encoded(255 - np.kron(digit.reshape(28, 28), np.ones((scale, scale), np.uint8)))


def test_models_and_page(server: Server) -> None:
    status, about = request(server, "GET", "/models")
    assert status == 200 and about["backend"] == "numpy" and about["device"] == "cpu"
    assert [model["name"] for model in about["models"]] == list(MODELS)
    for path, marker in (("/", "<canvas id=\"pad\""), ("/page.js", "async function predict"),
                         ("/page.css", "#pad")):
        status, page = request(server, "GET", path)
        assert status == 200 and marker in page["text"]


def test_random_digits_are_test_digits(server: Server, mnist_test) -> None:
    images, labels = mnist_test
    for _ in range(3):
        status, digit = request(server, "GET", "/random")
        assert status == 200
        assert digit["label"] == labels[digit["index"]] and digit["pixels"] == images[digit["index"]].tolist()


def test_a_drawn_digit_is_classified_with_its_insides(server: Server, mnist_test) -> None:
    images, labels = mnist_test
    for index in range(5):
        status, answer = request(server, "POST", "/predict", png_of(images[index]), {"Content-Type": "image/png"})
        assert status == 200
        assert [model["digit"] for model in answer["models"]] == [int(labels[index])] * 3
        for model in answer["models"]:
            assert abs(sum(model["probabilities"]) - 1) < 1e-5
            assert model["digit"] == int(np.argmax(model["probabilities"]))
        shapes = [[(inside["layer"], inside["shape"], len(inside["values"])) for inside in model["insides"]]
                  for model in answer["models"]]
        assert shapes == [[("Activation_function1", [50], 50), ("Activation_function2", [100], 100)],
                          [("Relu1", [30, 24, 24], 30 * 24 * 24)], [("Relu1", [16, 28, 28], 16 * 28 * 28)]]
        assert all(0 < value < 1 for value in answer["models"][0]["insides"][0]["values"])  # sigmoid outputs
        assert min(answer["models"][1]["insides"][0]["values"]) >= 0  # after ReLU


def test_the_page_and_the_predict_command_agree(server: Server, mnist_test, tmp_path: Path) -> None:
    """One picture, sent as JSON pixels and given to ``xpnet predict``: the same digits and probabilities."""
    images, _ = mnist_test
    picture = 255 - np.kron(images[7].reshape(28, 28), np.ones((3, 3), np.uint8))
    status, answer = request(server, "POST", "/predict", json.dumps(
        {"pixels": picture.reshape(-1).tolist(), "width": 84, "height": 84}).encode(),
        {"Content-Type": "application/json"})
    assert status == 200
    np.save(tmp_path / "digit.npy", picture)
    for model in answer["models"]:
        result = subprocess.run([sys.executable, "-m", "xpnet", "predict", str(tmp_path / "digit.npy"), "--model",
                                 model["name"], "--weights", str(book_file(model["name"])), "--json"],
                                capture_output=True, text=True, cwd=ROOT, check=False)
        assert result.returncode == 0, result.stderr
        predicted, = json.loads(result.stdout)["predictions"]
        assert predicted["digit"] == model["digit"]
        np.testing.assert_allclose(predicted["probabilities"], model["probabilities"], rtol=1e-5, atol=1e-7)


def raw(server: Server, data: bytes) -> bytes:
    """Send bytes as they are and read the answer until the server closes."""
    with socket.create_connection(server.server_address[:2], timeout=30) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


HOSTILE = [
    ("POST", "/predict", b"{", {"Content-Type": "application/json"}, 400, "not JSON"),
    ("POST", "/predict", b"[1, 2]", {"Content-Type": "application/json"}, 400, "expected"),
    ("POST", "/predict", b'{"pixels": [1, 2]}', {"Content-Type": "application/json"}, 400, "2 pixels"),
    ("POST", "/predict", json.dumps({"pixels": [300] * 784}).encode(), {"Content-Type": "application/json"}, 400,
     "integers from 0 to 255"),
    ("POST", "/predict", json.dumps({"pixels": [0.5] * 784}).encode(), {"Content-Type": "application/json"}, 400,
     "integers from 0 to 255"),
    ("POST", "/predict", json.dumps({"pixels": [0] * 784}).encode(), {"Content-Type": "application/json"}, 400,
     "blank"),
    ("POST", "/predict", json.dumps({"pixels": [], "width": 0, "height": 0}).encode(),
     {"Content-Type": "application/json"}, 400, "width and height"),
    ("POST", "/predict", json.dumps({"pixels": [1], "width": 10**9, "height": 10**9}).encode(),
     {"Content-Type": "application/json"}, 400, "width and height"),
    ("POST", "/predict", b"[" * 100_000 + b"]" * 100_000, {"Content-Type": "application/json"}, 400, "not JSON"),
    ("POST", "/predict", b"\x89PNG\r\n\x1a\n" + bytes(64), {"Content-Type": "image/png"}, 400, "not a PNG or JPEG"),
    ("POST", "/predict", png_of(np.arange(784, dtype=np.uint8))[:200], {"Content-Type": "image/png"}, 400,
     "the picture is a broken PNG or JPEG picture"),
    ("POST", "/predict", claiming(15_000, 15_000), {"Content-Type": "image/jpeg"}, 400, "holds more than"),
    ("POST", "/predict", b"GIF89a", {"Content-Type": "image/gif"}, 415, "image/png"),
    ("POST", "/predict", bytes(MAX_BODY + 1), {"Content-Type": "image/png"}, 413, "at most"),
    ("POST", "/elsewhere", b"{}", {"Content-Type": "application/json"}, 404, "no such endpoint"),
    ("GET", "/../../etc/passwd", None, {}, 404, "no such page"),
    ("GET", "/xpnet/server.py", None, {}, 404, "no such page"),
    ("GET", "/models", None, {"Origin": "http://evil.example"}, 403, "refused"),
    ("POST", "/predict", b"{}", {"Content-Type": "application/json", "Origin": "null"}, 403, "refused"),
    ("GET", "/models", None, {"Host": "evil.example:80"}, 403, "not this server's"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "message"), HOSTILE,
                         ids=[f"{case[0]} {case[1]} {case[4]} {case[5]}" for case in HOSTILE])
def test_bad_requests_get_a_clear_status(server: Server, method: str, path: str, body: bytes | None,
                                         headers: dict[str, str], status: int, message: str) -> None:
    answered, answer = request(server, method, path, body, headers)
    assert answered == status and message in answer["error"], answer
    assert request(server, "GET", "/models")[0] == 200  # still serving


SCALARS = st.none() | st.booleans() | st.integers(-300, 300) | st.floats(allow_nan=True) | st.text(max_size=5)
JSON = st.recursive(SCALARS,
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=20)
BODIES = JSON | st.fixed_dictionaries({"pixels": st.lists(st.integers(-1, 256) | st.floats(0, 255), max_size=40)},
                                      optional={"width": JSON | st.integers(0, 8), "height": JSON | st.integers(0, 8)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_any_json_body_gets_an_answer_never_a_fault(server: Server, body: object) -> None:
    status, answer = request(server, "POST", "/predict", json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
    assert status in (200, 400), answer
    assert status == 200 or answer["error"]


def test_a_body_that_ends_early_or_has_no_length(server: Server) -> None:
    host = f"127.0.0.1:{server.server_address[1]}"
    early = raw(server, f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
                f"Content-Length: 100\r\n\r\n".encode() + bytes(10))
    assert early.startswith(b"HTTP/1.1 400") and b"ended before" in early
    huge = raw(server, f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
               f"Content-Length: {10**12}\r\n\r\n".encode() + bytes(1000))
    assert huge.startswith(b"HTTP/1.1 413")
    unmeasured = raw(server, f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n\r\n".encode())
    assert unmeasured.startswith(b"HTTP/1.1 411")
    assert request(server, "GET", "/models")[0] == 200


def test_a_hundred_requests_at_once(server: Server, mnist_test) -> None:
    images, labels = mnist_test
    bodies = [(png_of(images[i], scale=4), int(labels[i])) for i in range(100)]

    def ask(item: tuple[bytes, int]) -> tuple[int, int]:
        status, answer = request(server, "POST", "/predict", item[0], {"Content-Type": "image/png"})
        return status, answer["models"][2]["digit"] if status == 200 else -1

    start = time.perf_counter()
    with ThreadPoolExecutor(100) as pool:
        answers = list(pool.map(ask, bodies))
    seconds = time.perf_counter() - start
    print(f"100 concurrent predictions (three networks each): {seconds:.2f} s, {100 / seconds:.0f} requests/s")
    assert [status for status, _ in answers] == [200] * 100
    assert sum(digit == label for (_, digit), (_, label) in zip(answers, bodies, strict=True)) >= 99


def test_serve_prints_its_url_and_warns_of_other_addresses(tmp_path: Path, mnist_dir: Path) -> None:
    env = {**os.environ, "XPNET_WEIGHTS": str(book_file("mlp"))}
    for host, warned in (("127.0.0.1", False), ("0.0.0.0", True)):
        process = subprocess.Popen([sys.executable, "-m", "xpnet", "serve", "--model", "mlp", "--port", "0",
                                    "--host", host, "--data-dir", str(mnist_dir)], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = process.stdout.readline()
            assert line.startswith(f"xpnet serve: http://{host}:") and "mlp on numpy" in line
            port = int(line.split(f"http://{host}:")[1].split("/")[0])
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/models")
            assert connection.getresponse().status == 200
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
        assert ("anyone who can reach this machine" in stderr) == warned


def test_a_port_in_use_is_one_line(server: Server, mnist_dir: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "xpnet", "serve", "--model", "mlp", "--port",
                             str(server.server_address[1]), "--data-dir", str(mnist_dir)], cwd=ROOT,
                            env={**os.environ, "XPNET_WEIGHTS": str(book_file("mlp"))}, capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("xpnet serve: error: cannot listen on 127.0.0.1")
    assert result.stderr.count("\n") == 1


# The page, in headless Chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if webdriver is None or chromium is None or driver is None:
        if os.environ.get("XPNET_CI"):
            pytest.fail(f"no browser for the page's tests in CI: {INSTALL}")
        pytest.skip(f"no headless browser here: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1200,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()


def page(browser, server: Server, width: int = 1200, height: int = 1000):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(width, height)
    browser.get(server.url)
    WebDriverWait(browser, 20).until(lambda b: b.execute_script(
        "return document.querySelectorAll('article.model').length") == len(MODELS))
    return WebDriverWait(browser, 30)


def digits_shown(browser) -> dict[str, int]:
    return browser.execute_script(
        "const shown = {}; for (const card of document.querySelectorAll('article.model')) {"
        " const digit = card.querySelector('[data-digit]');"
        " if (digit) shown[card.dataset.model] = +digit.dataset.digit; } return shown;")


def replay(browser, digit: np.ndarray) -> None:
    """Draw a test digit on the pad as a hand would: a stroke along each row's run of dark pixels."""
    from selenium.webdriver.common.action_chains import ActionChains

    pad = browser.find_element("id", "pad")
    box = browser.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", pad)
    scale = box[0] / 28
    actions = ActionChains(browser, duration=0)
    for row, line in enumerate(digit.reshape(28, 28) > 128):
        columns = np.flatnonzero(line)
        for run in np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1) if columns.size else []:
            y = (row + 0.5) * scale - box[1] / 2
            actions.move_to_element_with_offset(pad, int((run[0] + 0.5) * scale - box[0] / 2), int(y))
            actions.click_and_hold()
            actions.move_to_element_with_offset(pad, int((run[-1] + 0.5) * scale - box[0] / 2), int(y))
            actions.release()
    actions.perform()


def severe_console_messages(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.mark.slow
def test_the_page_classifies_a_drawing_with_every_network(browser, server: Server, mnist_test,
                                                          tmp_path: Path) -> None:
    images, labels = mnist_test
    wait = page(browser, server)
    assert "Running on numpy (cpu)." in browser.find_element("id", "where").text
    for index in (0, 1, 3):  # a 7, a 2, a 0
        browser.find_element("id", "clear").click()
        replay(browser, images[index])
        time.sleep(0.5)  # the last stroke's question, after the debounce
        wait.until(lambda b: len(digits_shown(b)) == len(MODELS))
        assert digits_shown(browser) == dict.fromkeys(MODELS, int(labels[index])), index
        assert browser.execute_script("return document.querySelectorAll('.maps canvas').length") == 30 + 16
        assert browser.execute_script("return document.querySelectorAll('canvas.strip').length") == 2
    browser.save_screenshot(str(os.environ.get("XPNET_PAGE_SCREENSHOT", tmp_path / "page.png")))
    assert severe_console_messages(browser) == []


@pytest.mark.slow
def test_the_random_and_clear_buttons(browser, server: Server, mnist_test) -> None:
    _, labels = mnist_test
    wait = page(browser, server)
    browser.find_element("id", "random").click()
    wait.until(lambda b: len(digits_shown(b)) == len(MODELS))
    label = int(browser.find_element("id", "truth").get_attribute("data-label"))
    index = int(browser.find_element("id", "truth").text.split()[2].rstrip(":"))
    assert label == labels[index]
    assert digits_shown(browser)["deep_convnet"] == label
    browser.find_element("id", "clear").click()
    wait.until(lambda b: digits_shown(b) == {})
    blank = browser.execute_script(
        "const d = document.getElementById('pad').getContext('2d').getImageData(0, 0, 280, 280).data;"
        " return d.every((v) => v === 255);")
    assert blank and browser.find_element("id", "truth").text == ""
    assert severe_console_messages(browser) == []


@pytest.mark.slow
def test_the_page_on_a_phone_and_with_a_keyboard(browser, server: Server, mnist_test) -> None:
    images, labels = mnist_test
    from selenium.webdriver.common.keys import Keys

    wait = page(browser, server, 390, 844)
    sizes = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth,"
        " document.getElementById('pad').getBoundingClientRect().width];")
    assert sizes[0] <= sizes[1] and sizes[2] <= sizes[1]
    replay(browser, images[0])
    time.sleep(0.5)
    wait.until(lambda b: len(digits_shown(b)) == len(MODELS))
    assert digits_shown(browser)["deep_convnet"] == labels[0]
    labelled = browser.execute_script(
        "return [...document.querySelectorAll('canvas#pad, canvas#seen')].every((c) => c.getAttribute('aria-label'))")
    assert labelled
    browser.find_element("id", "pad").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "clear"
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "random"
    browser.switch_to.active_element.send_keys(Keys.ENTER)  # a button works from the keyboard
    wait.until(lambda b: b.find_element("id", "truth").text.startswith("Test image"))
    assert severe_console_messages(browser) == []
