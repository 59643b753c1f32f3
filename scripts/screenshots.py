"""Screenshots of the human-evaluation pages for the docs, from a running `human_eval serve`.

    .venv/bin/python scripts/screenshots.py --url=http://127.0.0.1:8080 \
        --speaker=HAMLET --message="What news?" --output_dir=docs/figures

Needs Chromium and ChromeDriver (`make browser`) and selenium (the test extra).
"""

import argparse
import pathlib
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support.ui import WebDriverWait


def _browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1100,900"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def judge_page(browser, url, path):
    browser.get(url + "/")
    browser.find_element(By.ID, "judge").send_keys("demo-judge")
    browser.find_element(By.ID, "start").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "left").text)
    browser.save_screenshot(str(path))


def chat_page(browser, url, speaker, messages, path):
    browser.get(url + "/chat")
    select = WebDriverWait(browser, 30).until(lambda b: Select(b.find_element(By.ID, "speaker")))
    WebDriverWait(browser, 30).until(lambda b: select.options)
    select.select_by_visible_text(speaker)
    for count, message in enumerate(messages, start=1):
        browser.find_element(By.ID, "message").send_keys(message + "\n")
        WebDriverWait(browser, 300).until(
            lambda b, count=count: len(b.find_elements(By.CSS_SELECTOR, ".turn.them")) == count
        )
    time.sleep(0.3)
    browser.save_screenshot(str(path))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--speaker", default="HAMLET")
    parser.add_argument("--message", action="append", default=None)
    parser.add_argument("--output_dir", default="docs/figures")
    args = parser.parse_args()
    output = pathlib.Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    browser = _browser()
    try:
        judge_page(browser, args.url, output / "human_eval_judge.png")
        chat_page(
            browser,
            args.url,
            args.speaker,
            args.message or ["What news?"],
            output / "human_eval_chat.png",
        )
    finally:
        browser.quit()
    print(f"wrote {output / 'human_eval_judge.png'} and {output / 'human_eval_chat.png'}")


if __name__ == "__main__":
    main()
