"""Knowledge kept fresh by the scheduler: ``serve`` registers a ``sync:<source>`` system job per source; when it
fires after a page was edited on disk, the next answer is drawn from the new text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.scheduling import system_job_key
from tests.bot.slack_runtime_harness import RuntimeSlack
from tests.end_to_end.conftest import VPN_PAGE, WIFI_PAGE, model_saw
from tests.fakes.scripted_model import ScriptedModelServer

EDITED = "# VPN certificate rotation\n\nRotate the VPN certificate every thirty days with nwvpn cert rotate --force.\n"


async def test_the_resync_job_brings_an_edited_page_into_the_next_answer(
    switchboard: RuntimeSlack, scripted_model: ScriptedModelServer, wiki: Path
) -> None:
    scheduler = switchboard.channels.scheduling.scheduler
    assert await scheduler.check_leadership()
    await switchboard.mention("How do I rotate the VPN certificate?", ts="100.000001")
    before = await switchboard.answer_of("100.000001")
    assert "nwvpn cert renew" in str(before["blocks"])

    (wiki / VPN_PAGE).write_text(EDITED, encoding="utf-8")
    (wiki / WIFI_PAGE).unlink()
    # Half past a minute: never one of the job's own (whole-hour) occurrences, which the running scheduler fires.
    fire_time = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(minutes=1)
    assert await scheduler.fire(system_job_key("sync:wiki"), fire_time) == "queued"
    # The same occurrence is not queued twice (another replica, or a retry, finds it queued).
    assert await scheduler.fire(system_job_key("sync:wiki"), fire_time) == "queued-elsewhere"
    await switchboard.settle()  # a worker syncs

    scripted_model.requests.clear()
    await switchboard.mention("How do I rotate the VPN certificate?", ts="200.000001")
    after = await switchboard.answer_of("200.000001")
    assert "nwvpn cert rotate --force" in str(after["blocks"])
    assert model_saw(scripted_model, "every thirty days")
    assert not model_saw(scripted_model, "nwvpn cert renew")

    scripted_model.requests.clear()
    await switchboard.mention("How do guests join the wifi network?", ts="300.000001")
    await switchboard.answer_of("300.000001")
    assert not model_saw(scripted_model, "Northwind-Guest")  # the deleted page left the index
