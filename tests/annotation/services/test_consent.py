"""Consent stored per annotator, project and version of the consent text (README
"Annotator pages")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from annotation.models import Consent
from annotation.services.consent import (
    ConsentOutdated,
    consent_current,
    consent_latest,
    consent_record,
    consent_version_bump,
)
from annotation.services.projects import project_update
from tests.factories import ProjectFactory, make_annotator

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def project():
    return ProjectFactory(slug="study", consent_text="You may stop at any time.")


def test_nobody_has_consented_at_first(project):
    assert not consent_current(project=project, annotator=make_annotator())


def test_consent_is_stored_with_its_time_and_version(project):
    annotator = make_annotator()

    consent_record(project=project, annotator=annotator, now=MOMENT)

    stored = Consent.objects.get()
    assert (stored.project, stored.annotator) == (project, annotator)
    assert (stored.version, stored.consented_at) == (1, MOMENT)
    assert consent_current(project=project, annotator=annotator)


def test_consent_in_one_project_is_not_consent_in_another(project):
    annotator = make_annotator()
    consent_record(project=project, annotator=annotator)

    assert not consent_current(project=ProjectFactory(), annotator=annotator)


def test_agreeing_twice_keeps_the_first_time(project):
    annotator = make_annotator()
    consent_record(project=project, annotator=annotator, now=MOMENT)

    consent_record(project=project, annotator=annotator)

    assert Consent.objects.get().consented_at == MOMENT


@pytest.mark.parametrize("shown", [0, 2, "1x"])
def test_an_agreement_to_another_version_than_the_current_is_refused(project, shown):
    with pytest.raises(ConsentOutdated):
        consent_record(project=project, annotator=make_annotator(), version=shown)

    assert not Consent.objects.exists()


def test_changing_the_text_after_someone_consented_starts_a_new_version(project):
    annotator = make_annotator()
    consent_record(project=project, annotator=annotator)

    project_update(project=project, consent_text="We keep your answers for five years.")

    project.refresh_from_db()
    assert project.consent_version == 2
    assert not consent_current(project=project, annotator=annotator)
    assert consent_latest(project=project, annotator=annotator).version == 1


def test_agreeing_again_after_a_change_keeps_both_versions(project):
    annotator = make_annotator()
    consent_record(project=project, annotator=annotator)
    project_update(project=project, consent_text="A new text.")

    consent_record(project=project, annotator=annotator, version=2)

    assert list(Consent.objects.values_list("version", flat=True)) == [2, 1]
    assert consent_current(project=project, annotator=annotator)


def test_changing_the_text_before_anyone_consented_keeps_the_version(project):
    project_update(project=project, consent_text="Still a draft.")

    project.refresh_from_db()
    assert project.consent_version == 1


def test_saving_other_settings_keeps_the_consent_version(project):
    consent_record(project=project, annotator=make_annotator())

    project_update(project=project, name="Renamed", consent_text=project.consent_text)

    project.refresh_from_db()
    assert project.consent_version == 1


def test_emptying_the_text_back_to_the_default_is_a_change(project):
    consent_record(project=project, annotator=make_annotator())

    assert consent_version_bump(project=project, previous_text=project.consent_text) is False
    project.consent_text = ""
    assert consent_version_bump(project=project, previous_text="You may stop at any time.")
    assert project.consent_version == 2


def test_a_new_version_only_follows_agreements_to_the_current_one(project):
    consent_record(project=project, annotator=make_annotator())
    project_update(project=project, consent_text="Second text.")

    project_update(project=project, consent_text="Third text, nobody agreed to the second.")

    project.refresh_from_db()
    assert project.consent_version == 2
