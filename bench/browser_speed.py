"""Page speed as a person sees it: headless Chromium (Debian's, as the browser tests use) against
`streamlit run app.py`, timed from the click to the page fully drawn.

Targets at 100,000 customers on 2 cores: Customer 360 <= 1 s warm, the overview after login
<= 2 s, Model & data first paint <= 2 s. Prints, each the median of --repeat tries:
* Overview after login (an executive): from the "Log in" click to the overview fully drawn;
  the first login after the server starts (its caches cold) and a later one;
* Customer 360 (a CSM): from the risk board's "Open Customer 360" click, for the first
  account opened after the server starts (the book-wide segment and peer tables are built
  then), for an account not opened before (cold) and for one opened before (warm); the same
  by following an account's link (a new page load, as the board's Open link in a new tab);
* Model & data (an analyst): first paint (title, headline cards and the verdict) and fully drawn;
* Overview after a new snapshot: a scheduler publishes one (a write that changes nothing), and
  a minute later an executive logs in: the first login after a nightly `score`.

"Fully drawn" is honest: the page's own texts are all there, Streamlit's running indicator is
gone, no element is stale, loading (skeleton, spinner) or an undrawn chart or table (a Plotly
chart without its SVG, a data grid without its canvas), and it stays so for half a second; the
time is when that last began.

Run: `PYTHONPATH=. .venv/bin/python bench/browser_speed.py --data DIR [--repeat 3] [--width 1280]`
on a data dir with logins (`python -m engine users add ...`; the demo's passwords are the
defaults). Without --data a demo install is built in a temp folder first. The app only reads
the data dir (a login writes its bookkeeping to the users file and the state store), except
for the new-snapshot step's write that changes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402 - after the path
from engine.accounts.customer import USAGE_WEEKS  # noqa: E402
from engine.auth import users  # noqa: E402
from engine.data import warehouse  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STABLE_SECONDS = 0.5

# What the page shows, read in the browser: missing texts (a "|" separates alternatives) and
# anything still on its way.
STATE_JS = """(required) => {
  const shown = el => el.offsetParent !== null;
  const main = document.querySelector('[data-testid="stMain"]');
  const text = main ? main.innerText : '';
  const missing = required.filter(r => !r.split('|').some(alt => text.includes(alt)));
  const count = (sel, undrawn) => [...document.querySelectorAll(sel)].filter(shown).filter(undrawn).length;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  const pending = {
    running: status && shown(status) ? 1 : 0,
    stale: document.querySelectorAll('[data-stale="true"]').length,
    skeleton: count('[data-testid="stSkeleton"]', () => true),
    spinner: count('[data-testid="stSpinner"]', () => true),
    plotly: count('[data-testid="stPlotlyChart"]', el => !el.querySelector('.main-svg')),
    vega: count('[data-testid="stVegaLiteChart"]', el => !el.querySelector('svg, canvas')),
    grid: count('[data-testid="stDataFrame"]', el => !el.querySelector('canvas')),
  };
  const waiting = Object.entries(pending).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  return {missing, waiting, charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length};
}"""


@dataclass
class Drawn:
    seconds: float  # from the click to the page fully drawn
    first: dict[str, float] = field(default_factory=dict)  # when each required text first showed


def wait_drawn(page, required: list[str], started: float, timeout: float = 120.0) -> Drawn:
    """Poll the page until it is fully drawn and stays so for STABLE_SECONDS."""
    first: dict[str, float] = {}
    since = None
    while True:
        state = page.evaluate(STATE_JS, required)
        now = time.perf_counter() - started
        for text in required:
            if text not in state["missing"]:
                first.setdefault(text, now)
        if not state["missing"] and not state["waiting"]:
            since = now if since is None else since
            if now - since >= STABLE_SECONDS:
                return Drawn(since, first)
        else:
            since = None
        if now > timeout:
            shot = Path(tempfile.mkdtemp()) / "not_drawn.png"
            page.screenshot(path=shot, full_page=True)
            raise TimeoutError(
                f"not drawn after {timeout:.0f} s: missing {state['missing']}, {state['waiting']} (screenshot {shot})"
            )
        page.wait_for_timeout(10)


def settle(page) -> None:
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=120_000)


def log_in(page, url: str, username: str, password: str, path: str = "") -> float:
    """Log in through the form; returns the perf_counter time of the "Log in" click."""
    page.goto(f"{url}/{path}")
    page.get_by_role("textbox", name="Username").wait_for(timeout=120_000)
    settle(page)  # the cookie reader's first answer reruns the script; a click during it is lost
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    clicked = time.perf_counter()
    page.get_by_role("button", name="Log in").click()
    return clicked


# -- what each page shows when it is done ------------------------------------------------------
OVERVIEW = [
    "Portfolio overview",
    "MRR by plan tier",
    "Churn risk, next 90 days",
    "Top 10 accounts by ARR at risk",
    "Segment breakdown",
    "Segments and plans vs the whole book",
    "Download the numbers as CSV",
]
MODEL_FIRST_PAINT = [
    "Model & data",
    "Serving model",
    "looks trustworthy today|something needs watching|Something needs action",
]
MODEL_DRAWN = [*MODEL_FIRST_PAINT, "Registry", "Quality", "Drift"]


def customer_360(name: str) -> list[str]:
    return [
        name,
        "Churn risk (next 90 days)",
        "vs peers",
        # the page's heading, kept in step with it (an account under 26 weeks old: "since <signup>")
        f"Product usage (last {USAGE_WEEKS} weeks)|Product usage (since ",
        "Support health",
        "Revenue and lifetime value",
        "Opportunities",
        "AI summary",
    ]


# -- the journeys --------------------------------------------------------------------------------
@dataclass
class Logins:
    csm: tuple[str, str]
    executive: tuple[str, str]
    analyst: tuple[str, str]


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s" + (
        f" (of {', '.join(f'{v:.2f}' for v in values)})" if len(values) > 1 else ""
    )


def overview_after_login(
    browser, url: str, who: tuple[str, str], width: int, repeat: int, idle: float
) -> dict[str, list[float]]:
    """A new browser each time (nothing cached: the first login after the server starts, `idle`
    seconds after the login page showed, then later ones), then the same browser logging out
    and in again (its files cached)."""
    out: dict[str, list[float]] = {"first login after start": [], "new browser": [], "same browser": []}
    for i in range(repeat + 1):
        context = browser.new_context(viewport={"width": width, "height": 1000})
        page = context.new_page()
        if i == 0 and idle:
            page.goto(url)
            page.wait_for_timeout(idle * 1000)
        clicked = log_in(page, url, *who)
        out["first login after start" if i == 0 else "new browser"].append(wait_drawn(page, OVERVIEW, clicked).seconds)
        if i < repeat:
            context.close()
    for _ in range(repeat):
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
        settle(page)
        page.get_by_role("textbox", name="Username").fill(who[0])
        page.get_by_role("textbox", name="Password").fill(who[1])
        clicked = time.perf_counter()
        page.get_by_role("button", name="Log in").click()
        out["same browser"].append(wait_drawn(page, OVERVIEW, clicked).seconds)
    context.close()
    return out


def _board_row_click(page, url: str, row: int) -> tuple[str, float]:
    """On the risk board, select `row` and click "Open Customer 360"; (account, click time)."""
    page.goto(f"{url}/risk_board")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=120_000)
    settle(page)
    page.wait_for_timeout(300)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + 35 * (row + 1) + 18)  # the row marker of that row
    button = page.get_by_role("button", name="Open Customer 360")
    button.wait_for(timeout=30_000)
    settle(page)
    account = button.inner_text().split(":", 1)[1].strip()
    clicked = time.perf_counter()
    button.click()
    return account, clicked


def customer_360_times(
    browser, url: str, who: tuple[str, str], accounts: list[tuple[str, str]], width: int, repeat: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("first after start", "cold", "warm", "link cold", "link warm")}
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    log_in(page, url, *who, path="risk_board")
    page.get_by_role("button", name="Log out").wait_for(timeout=120_000)
    page.wait_for_function("name => document.cookie.includes(name)", arg=users.COOKIE_NAME, timeout=30_000)
    settle(page)

    def board(row: int) -> float:
        account, clicked = _board_row_click(page, url, row)
        return wait_drawn(page, customer_360(account), clicked).seconds

    def link(customer_id: str, name: str) -> float:
        page.goto(f"{url}/risk_board")
        settle(page)
        started = time.perf_counter()
        page.goto(f"{url}/customer_360?customer_id={customer_id}")
        return wait_drawn(page, customer_360(name), started).seconds

    out["first after start"].append(board(0))
    for i in range(1, repeat + 1):
        out["cold"].append(board(i))
        out["warm"].append(board(i))
    for customer_id, name in accounts[:repeat]:
        out["link cold"].append(link(customer_id, name))
        out["link warm"].append(link(customer_id, name))
    context.close()
    return out


def model_data_times(browser, url: str, who: tuple[str, str], width: int, repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"first paint": [], "fully drawn": []}
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    log_in(page, url, *who)
    page.get_by_role("button", name="Log out").wait_for(timeout=120_000)
    page.wait_for_function("name => document.cookie.includes(name)", arg=users.COOKIE_NAME, timeout=30_000)
    settle(page)
    for _ in range(repeat):
        page.goto(url)  # the role's home page, then the page by its link
        settle(page)
        started = time.perf_counter()
        page.goto(f"{url}/model_data")
        out["first paint"].append(
            wait_drawn(page, MODEL_FIRST_PAINT, started, timeout=300).first[MODEL_FIRST_PAINT[-1]]
        )
        out["fully drawn"].append(wait_drawn(page, MODEL_DRAWN, started, timeout=300).seconds)
    context.close()
    return out


def overview_after_new_snapshot(browser, url: str, data: Path, who: tuple[str, str], width: int, wait: float):
    """Publish a snapshot as a scheduler would, give the app `wait` seconds, then log in."""
    with warehouse.writing(data, "bench: a scheduler's write") as wh:
        wh.execute("DELETE FROM predictions WHERE false")
    warehouse.close_all()
    time.sleep(wait)
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    clicked = log_in(page, url, *who)
    seconds = wait_drawn(page, OVERVIEW, clicked).seconds
    context.close()
    return {f"{wait:.0f} s after it": [seconds]}


def accounts_of(data: Path, owner: str, n: int) -> list[tuple[str, str]]:
    """Active accounts of `owner` that the board does not list first (they are opened by link)."""
    wh = warehouse.get_warehouse(data, read_only=True)
    try:
        rows = wh.rows(
            "SELECT customer_id, name FROM customers WHERE csm_owner = ? AND status = 'active' "
            "ORDER BY customer_id LIMIT ?",
            [owner, n],
        )
    finally:
        warehouse.close_all()  # the app process reads the warehouse itself
    return [(str(a), str(b)) for a, b in rows]


def report(title: str, times: dict[str, list[float]], target: str = "") -> None:
    print(f"{title}{f' (target {target})' if target else ''}:")
    for label, values in times.items():
        if values:
            print(f"  {label:<26} {_median(values)}")


def run(data: Path, logins: Logins, width: int, repeat: int, only: set[str], idle: float = 0.0) -> None:
    from playwright.sync_api import sync_playwright

    port = load.free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
        proc = load.start_server(data, port, log=log, drop_env=("GROQ_API_KEY",), timeout=180)
    url = f"http://127.0.0.1:{port}"
    print(f"app on {url} over {data} (server log {log.name}); Chromium at {width} px")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            steps: dict[str, Callable[[], None]] = {
                "overview": lambda: report(
                    f"Overview after login ({logins.executive[0]})",
                    overview_after_login(browser, url, logins.executive, width, repeat, idle),
                    "<= 2 s",
                ),
                "customer_360": lambda: report(
                    f"Customer 360 ({logins.csm[0]}), click to fully drawn",
                    customer_360_times(
                        browser, url, logins.csm, accounts_of(data, logins.csm[0], repeat), width, repeat
                    ),
                    "<= 1 s warm",
                ),
                "model_data": lambda: report(
                    f"Model & data ({logins.analyst[0]})",
                    model_data_times(browser, url, logins.analyst, width, repeat),
                    "first paint <= 2 s",
                ),
                "after_publish": lambda: report(
                    f"Overview after a new snapshot ({logins.executive[0]})",
                    overview_after_new_snapshot(browser, url, data, logins.executive, width, 60.0),
                    "<= 2 s",
                ),
            }
            for name, step in steps.items():
                if not only or name in only:
                    step()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _login(text: str) -> tuple[str, str]:
    user, _, password = text.partition(":")
    return user, password


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a scored data dir with logins (default: a fresh demo install)")
    parser.add_argument("--csm", type=_login, help="user:password of a CSM (default: the demo's biggest book)")
    parser.add_argument("--executive", type=_login, default=("exec", users.DEMO_PASSWORDS["executive"]))
    parser.add_argument("--analyst", type=_login, default=("analyst", users.DEMO_PASSWORDS["analyst"]))
    parser.add_argument("--width", type=int, default=1280, help="browser width in px")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", nargs="*", default=[], choices=["overview", "customer_360", "model_data", "after_publish"]
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        help="seconds the first login page stays open before logging in (the app warms its caches meanwhile)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "data"
            print("building a demo install ...", flush=True)
            load.build_demo(data)
        csm = args.csm or (_biggest_book(data), users.DEMO_PASSWORDS["csm"])
        run(data, Logins(csm, args.executive, args.analyst), args.width, args.repeat, set(args.only), args.idle)


def _biggest_book(data: Path) -> str:
    """The CSM login whose book holds the most accounts."""
    logins = {u.username for u in users.list_users(data) if u.role == "csm"}
    wh = warehouse.get_warehouse(data, read_only=True)
    try:
        owners = wh.rows("SELECT csm_owner, count(*) AS n FROM customers GROUP BY 1 ORDER BY n DESC")
    finally:
        warehouse.close_all()
    found = next((str(o) for o, _n in owners if str(o) in logins), None)
    if found is None:
        raise SystemExit(f"No CSM login owns accounts in {data}: add one with `python -m engine users add`.")
    return found


if __name__ == "__main__":
    main()
