"""The README's main-job command, as a new user runs it: a clean copy of the repo, no venv active and no `python` on
PATH (only the system's `python3`), then the demo's URL in Chromium with no network beyond 127.0.0.1: styled, buttons
work, no banner, nothing requested elsewhere. Run twice: the second start must not set anything up again.
Run by `.ci/run` (outside the test suite, which must stay quick): `.venv/bin/python tests/check_demo.py`."""
import os, shutil, signal, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
from playwright.sync_api import sync_playwright
sys.path.insert(0, str(Path(__file__).parent))
from support import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port

def start(repo: Path, env: dict, log: Path) -> tuple[subprocess.Popen, float]:
    "`bash .ci/demo` in `repo`; the process and the seconds until its page answered."
    t0 = time.monotonic()
    p = subprocess.Popen(["bash", ".ci/demo"], cwd=repo, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{env['STARMODEL_PORT']}/counter"
    while True:
        if p.poll() is not None: sys.exit(f"check_demo: the demo exited ({p.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() - t0 > 900: stop(p); sys.exit(f"check_demo: no answer from {url} in 15 minutes:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return p, time.monotonic() - t0
        except OSError: time.sleep(0.2)

def stop(p: subprocess.Popen):
    os.killpg(p.pid, signal.SIGTERM)
    try: p.wait(10)
    except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL)

def check_page(url: str) -> None:
    offsite, errors = [], []
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        page = b.new_page()
        page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else offsite.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        btn = page.get_by_role("button", name="Increment").first
        btn.click()
        page.wait_for_function("document.getElementById('sm-counter-count').textContent.trim() === '1'", polling=50, timeout=30_000)
        styled = page.evaluate("""b => { const s = getComputedStyle(b); return [s.backgroundColor, s.borderRadius, s.fontFamily]; }""",
                               btn.element_handle())
        dead = page.evaluate("document.documentElement.dataset.smDead || ''")
        b.close()
    assert not offsite, f"requests off 127.0.0.1: {offsite}"
    assert not errors, errors
    assert not dead, f"the page says its {dead} did not load"
    assert styled[0] not in ("rgba(0, 0, 0, 0)", "rgb(239, 239, 239)") and styled[1] != "0px", f"unstyled button: {styled}"

def main():
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)/"starmodel_nb"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        path = ":".join(   # the system's folders only: python3 but no python, and no venv
            d for d in ("/usr/local/sbin", "/usr/sbin", "/usr/bin", "/sbin", "/bin") if Path(d).is_dir())
        env = {"PATH": path, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8", "STARMODEL_PORT": str(free_port())}
        assert shutil.which("python", path=path) is None and shutil.which("python3", path=path), "check_demo needs python3 and no python"
        first, took1 = start(repo, env, Path(tmp)/"first.log")
        try: check_page(f"http://127.0.0.1:{env['STARMODEL_PORT']}/counter")
        finally: stop(first)
        again, took2 = start(repo, env, Path(tmp)/"second.log")
        stop(again)
        second = (Path(tmp)/"second.log").read_text()
        assert "setup:" not in second, f"the second start set things up again:\n{second}"
        py = subprocess.run([shutil.which("python3", path=path), "-V"], capture_output=True, text=True).stdout.strip()
        print(f"check_demo: {py}, "
              f"first start (with set-up) {took1:.0f} s, second start {took2:.1f} s; styled, buttons work, nothing requested off 127.0.0.1")

if __name__ == "__main__": main()
