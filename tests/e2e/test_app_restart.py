"""An app started again on other settings (api/app.py restart_on, how tests reuse one route table)
serves from the new stores only, and refuses settings that would shape a different app."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from api.app import create_app, restart_on
from tests.conftest import settings_for
from tests.e2e.support import PASSWORD, mails_to


def test_an_app_started_again_on_other_settings_keeps_nothing_of_its_earlier_run(tmp_path):
    app = create_app(settings_for("sqlite", tmp_path / "first", None))
    account = {"email": "ada@example.org", "password": PASSWORD, "display_name": "Ada"}
    with TestClient(app) as client:
        assert client.post("/accounts", json=account).status_code == 201
        first_services = client.app.state.services
    restart_on(app, settings_for("sqlite", tmp_path / "second", None))
    with TestClient(app) as client:
        assert client.app.state.services is not first_services
        assert client.app.state.services.settings.data_dir == tmp_path / "second" / "var"
        assert client.post("/accounts", json=account).status_code == 201  # the address is free here
        assert len(mails_to(client, account["email"])) == 1


def test_settings_that_shape_another_app_are_refused(tmp_path):
    app = create_app(settings_for("sqlite", tmp_path, None))
    with pytest.raises(ValueError, match="shape a different app"):
        restart_on(app, settings_for("sqlite", tmp_path, None, PEERLEDGER_MAX_BODY_BYTES="4096"))
