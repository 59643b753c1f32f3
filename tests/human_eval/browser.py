"""A real headless Chromium for the page tests (Debian's chromium and chromium-driver)."""

import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import REPO
from tests.conftest import python_for_modules


def chrome():
    """A selenium WebDriver on headless Chromium; fails with how to install it when missing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail(
            "Chromium and ChromeDriver are needed: run `make browser` "
            "(apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


class PageServer:
    """`python -m mtask_tf.human_eval serve ...` as a subprocess; `start()` waits for "ready"."""

    def __init__(self, log_path, *flags):
        self.log_path, self.flags, self.process = log_path, flags, None

    def start(self, timeout=60):
        self.log = open(self.log_path, "a")
        python, zygote_env = python_for_modules()
        self.process = subprocess.Popen(
            [python, "-m", "mtask_tf.human_eval", "serve", *self.flags],
            cwd=REPO,
            env=dict(os.environ, **zygote_env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while "ready" not in self.log_path.read_text().split("stopped")[-1]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the page server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
