"""Background jobs (issue 14): 1,000 jobs of 10 progress steps each, started together on one process.

Each job is `@event(background=True)` on its own instance (a session entity, 1,000 sessions): ten times it sleeps
10 ms (work that waits), changes the instance and yields its progress, so each step is a commit (validated, recorded
in the history, published) and the job's news goes out on the bus to that session's pages. The script starts them
all in one turn of the app's loop, waits for every one to end, and prints:

- jobs done / started, wall time, commits and job-news messages per second (what pages receive: the "progress
  patches"; the news of a running job is throttled to 10 per second per job, its turns always sent);
- RSS before, at the peak, after the jobs ended, and after a second batch (memory stays bounded: an ended job is
  kept only among the last 200 listed, the instances are the memory store's);
- the baseline in the same process: the same 1,000 x 10 steps run as streaming events (`async def` generators
  through the dispatcher, each awaited by a plain asyncio task, no job machinery), and the ratio of wall time and CPU
  per step, jobs / baseline.

Run: `python bench/background.py` (~15 s on 2 cores); `--jobs N --steps K`; `--limit L` sets the `jobs` setting (how many
run at once; default here: all of them, as the baseline runs all at once; the app's default is 16).
"""
import argparse, asyncio, gc, os, resource, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from starmodel_nb import Entity, event, create_app
from starmodel_nb.app.bus import channel_for

def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
    return 0.0

class Crunch(Entity):
    n: int = 0
    @event(background=True)
    async def work(self, steps: int = 10):
        for i in range(steps):
            await asyncio.sleep(0.01); self.n += 1
            yield (i + 1, steps)
    @event
    async def stream(self, steps: int = 10):
        for i in range(steps):
            await asyncio.sleep(0.01); self.n += 1
            yield (i + 1, steps)

async def jobs_batch(app, n: int, steps: int, tag: str, news: list) -> dict:
    rt, spec = app.sm, Crunch.__sm_events__["work"]
    before_cpu, t0, count0 = time.process_time(), time.perf_counter(), len(news)
    peak = rss_mb()
    started = [rt.jobs.start(Crunch, spec, f"{tag}{i}", {"steps": steps}, "bench") for i in range(n)]
    while any(j.active for j in started):
        await asyncio.sleep(0.05); peak = max(peak, rss_mb())
    wall, cpu = time.perf_counter() - t0, time.process_time() - before_cpu
    done = sum(j.state == "done" for j in started)
    commits = sum(j.commits for j in started)
    return {"done": done, "wall": wall, "cpu": cpu, "commits": commits, "news": len(news) - count0, "peak": peak}

async def stream_batch(app, n: int, steps: int, tag: str) -> dict:
    rt, spec = app.sm, Crunch.__sm_events__["stream"]
    async def one(key):
        async for _ in rt.dispatcher.run(Crunch, spec, key, channel_for(Crunch, key), {"steps": steps}): pass
    before_cpu, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*[one(f"{tag}{i}") for i in range(n)])
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - before_cpu}

async def main(a):
    app = create_app([Crunch], jobs=a.limit or a.jobs, jobs_cap=max(10_000, a.jobs), memory_cap=100_000, secret_key="bench-background-secret-key-32-bytes!")
    rt = app.sm
    news: list = []
    rt.bus.subscribe(lambda e: news.append(1) if e.job is not None else None)
    await stream_batch(app, 50, 2, "warm")                         # warm up both paths
    await jobs_batch(app, 50, 2, "warmjob", news)
    gc.collect(); base_rss = rss_mb()
    s = await stream_batch(app, a.jobs, a.steps, "s")
    j = await jobs_batch(app, a.jobs, a.steps, "j", news)
    after = rss_mb()
    j2 = await jobs_batch(app, a.jobs, a.steps, "k", news)         # a second batch: memory does not keep growing with ended jobs
    gc.collect(); after2 = rss_mb()
    steps = a.jobs * a.steps
    print(f"cores: {os.cpu_count()}, jobs: {a.jobs} x {a.steps} steps, at most {a.limit or a.jobs} at once\n")
    print(f"jobs done          {j['done']}/{a.jobs} (second batch {j2['done']}/{a.jobs}); commits {j['commits']} of {steps}")
    print(f"wall               {j['wall']:.2f} s   (baseline: streaming events {s['wall']:.2f} s)   ratio {j['wall'] / s['wall']:.2f}")
    print(f"CPU per step       {j['cpu'] / steps * 1e6:.0f} µs   (baseline {s['cpu'] / steps * 1e6:.0f} µs)   ratio {j['cpu'] / s['cpu']:.2f}")
    print(f"commits/s          {j['commits'] / j['wall']:.0f}")
    print(f"job news/s         {j['news'] / j['wall']:.0f}   ({j['news']} messages to pages: queued, running, progress, end)")
    print(f"RSS                before {base_rss:.1f} MB, peak {j['peak']:.1f} MB, after {after:.1f} MB, after a second batch {after2:.1f} MB")
    print(f"jobs remembered    {len(rt.jobs.jobs)} (the last {rt.jobs.keep} ended), running {len(rt.jobs.tasks())}")
    await app.sm.jobs.close()

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--limit", type=int, default=0, help="the `jobs` setting (at once); default: --jobs")
    asyncio.run(main(ap.parse_args()))
