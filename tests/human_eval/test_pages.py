"""The judging and chat pages driven in a real headless Chromium, as judges and users use them."""

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from mtask_tf.data import detokenizer
from mtask_tf.human_eval import answers as answers_lib
from mtask_tf.human_eval import task as task_lib
from tests.human_eval.browser import PageServer
from tests.human_eval.browser import chrome
from tests.human_eval.helpers import make_task
from tests.serving.conftest import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def _wait(browser, condition, timeout=30):
    return WebDriverWait(browser, timeout).until(condition)


def _item_on_page(browser, task):
    """The item whose two responses (as readable text) the page shows; None while none is."""
    left, right = (
        browser.find_element(By.ID, "left").text,
        browser.find_element(By.ID, "right").text,
    )
    shown = [
        i
        for i in task.items
        if (left, right)
        == (detokenizer.detokenize(i.left.response), detokenizer.detokenize(i.right.response))
    ]
    return shown[0] if shown else None


def _shown_item(browser, task):
    """The item on the page, waiting until the page shows one item's responses whole.

    Waiting for the element to be visible is not enough: the page may still be
    filling in the responses (or showing none) on a busy machine.
    """
    return _wait(browser, lambda b: _item_on_page(b, task))


def _judge_link(server, judge):
    """The judge's link, as `serve` prints it."""
    for line in server.log_path.read_text().splitlines():
        if line.strip().startswith(f"judge {judge}: "):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(f"serve printed no link for {judge}:\n{server.log_path.read_text()}")


def _answer_and_wait(browser, task, act):
    before = _shown_item(browser, task)
    act()
    _wait(browser, lambda b: _shown_item(b, task) != before)
    return before


def test_judging_page_records_exactly_the_answers_given_across_a_restart(browser, tmp_path):
    task = make_task(items_per_pair=6, judges_per_item=2)
    task_path = tmp_path / "task.json"
    task_lib.write_task(task, task_path)
    port = free_port()
    server = PageServer(
        tmp_path / "server.log", f"--task={task_path}", f"--port={port}", "--judges=ann"
    ).start()
    link = _judge_link(server, "ann")
    assert link.startswith(f"http://127.0.0.1:{port}/#token=")
    try:
        browser.get(link)
        first = _answer_and_wait(
            browser, task, lambda: browser.find_element(By.ID, "rate-2").click()
        )
        body = browser.find_element(By.TAG_NAME, "body")
        second = _answer_and_wait(browser, task, lambda: body.send_keys("4"))
        third = _shown_item(browser, task)
        # Back to the second item: its answer is shown; a new one replaces it.
        body.send_keys("b")
        _wait(browser, lambda b: _shown_item(b, task) == second)
        chosen = browser.find_element(By.CSS_SELECTOR, "#scale .chosen")
        assert chosen.get_attribute("data-rating") == "4"
        browser.find_element(By.ID, "rate-5").click()
        _wait(browser, lambda b: _shown_item(b, task) == third)
        assert "2 answered" in browser.find_element(By.ID, "progress").text

        server.stop()  # a crash or restart in the middle loses nothing
        server.start()
        _answer_and_wait(browser, task, lambda: body.send_keys("1"))
        fourth = _shown_item(browser, task)

        # Coming back later with their link, the judge continues where they left off.
        browser.get("about:blank")
        browser.get(link)
        assert _shown_item(browser, task) == fourth
        assert "3 answered" in browser.find_element(By.ID, "progress").text
    finally:
        server.stop()
    lines = [json.loads(line) for line in (tmp_path / "task.json.answers.jsonl").open()]
    given = [(a["judge"], a["item"], a["rating"]) for a in lines]
    assert given == [
        ("ann", first.id, 2),
        ("ann", second.id, 4),
        ("ann", second.id, 5),
        ("ann", third.id, 1),
    ]
    assert len({first.id, second.id, third.id, fourth.id}) == 4  # never the same item twice
    assert len({a["answer_id"] for a in lines}) == 4
    final = answers_lib.latest(answers_lib.read_answers(tmp_path / "task.json.answers.jsonl"))
    assert {k: a.rating for k, a in final.items()} == {
        ("ann", first.id): 2,
        ("ann", second.id): 5,
        ("ann", third.id): 1,
    }


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory):
    """export/toy/1: a toy SavedModel with the exporter's signatures and speakers file."""
    from tests.serving import toy_models

    root = tmp_path_factory.mktemp("export")
    version = toy_models.save_toy_model(root / "toy", 1, "v1", display=True)
    (root / "toy" / "1" / "assets.extra").mkdir(exist_ok=True)
    (root / "toy" / "1" / "assets.extra" / "speakers.txt").write_text("HAMLET\nIAGO\n")
    return root, version


def test_chat_page_answers_as_the_chosen_speaker_through_the_rest_api(
    browser, toy_export, tmp_path
):
    from selenium.webdriver.support.ui import Select

    from tests.serving.conftest import Server

    root, _ = toy_export
    serving = Server(
        tmp_path / "serving.log", "--model_name=toy", f"--model_base_path={root / 'toy'}"
    ).wait_ready()
    port = free_port()
    pages = PageServer(
        tmp_path / "pages.log",
        f"--port={port}",
        f"--export_root={root}",
        f"--serving_url=http://127.0.0.1:{serving.rest_port}",
    ).start()
    try:
        browser.get(f"http://127.0.0.1:{port}/chat")
        speaker = _wait(browser, lambda b: Select(b.find_element(By.ID, "speaker")))
        _wait(browser, lambda b: len(speaker.options) == 2)
        assert [o.text for o in speaker.options] == ["HAMLET", "IAGO"]
        speaker.select_by_visible_text("IAGO")
        box = browser.find_element(By.ID, "message")
        box.send_keys("who goes there\n")
        reply = _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".turn.them"))[0]
        # The page shows the model's `display` output (the toy's: the tokens in «»).
        assert reply.text.startswith("IAGO: «v1 IAGO: who goes there»")
        rows = reply.find_elements(By.CSS_SELECTOR, "tr")[1:]
        cells = [[c.text for c in row.find_elements(By.TAG_NAME, "td")] for row in rows]
        # The toy model: score = -characters, forward = 2 x score, reverse = score / 2.
        first = "v1 IAGO: who goes there"
        assert cells[0] == [
            "1",
            f"«{first}»",
            f"{-len(first):.2f}",
            f"{-2 * len(first):.2f}",
            f"{-len(first) / 2:.2f}",
            str(len(first)),
        ]
        # The reply's tokens are the next message's context (the toy's second response).
        box.send_keys("and then\n")
        _wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, ".turn.them")) == 2)
        second = browser.find_elements(By.CSS_SELECTOR, ".turn.them")[1]
        assert f"«v1 IAGO: {first}»" in second.text
        serving.stop()
        box.send_keys("anyone?\n")
        error = _wait(browser, lambda b: b.find_element(By.ID, "error").text)
        assert "not reachable" in error
    finally:
        pages.stop()
        serving.stop()
