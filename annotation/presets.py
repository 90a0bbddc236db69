"""Starting points for a project's protocol: the common pairwise, ranking and rubric designs."""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.translation import pgettext_lazy

HELPSTEER2_CRITERIA = [
    {
        "key": "helpfulness",
        "label": "Helpfulness",
        "description": "Overall helpfulness of the response to the prompt.",
        "level_labels": {"0": "Not helpful", "2": "Partly helpful", "4": "Perfectly helpful"},
    },
    {
        "key": "correctness",
        "label": "Correctness",
        "description": "Inclusion of all pertinent facts without errors.",
        "level_labels": {"0": "Wrong", "2": "Some errors", "4": "Fully correct"},
    },
    {
        "key": "coherence",
        "label": "Coherence",
        "description": "Consistency and clarity of expression.",
        "level_labels": {"0": "Incoherent", "2": "Some unclear parts", "4": "Perfectly clear"},
    },
    {
        "key": "complexity",
        "label": "Complexity",
        "description": "Intellectual depth required to write the response.",
        "level_labels": {"0": "Basic language", "2": "High-school level", "4": "Expert"},
    },
    {
        "key": "verbosity",
        "label": "Verbosity",
        "description": "Amount of detail relative to what the prompt asks for.",
        "level_labels": {"0": "Succinct", "2": "Moderate", "4": "Verbose"},
    },
]

LIKERT_7 = [
    {
        "key": "quality",
        "label": "Overall quality",
        "description": "How good is the response overall?",
        "min": 1,
        "max": 7,
        "level": "ordinal",
        "level_labels": {
            "1": "Very poor",
            "2": "Poor",
            "3": "Fair",
            "4": "Neutral",
            "5": "Good",
            "6": "Very good",
            "7": "Excellent",
        },
    }
]

YES_NO = {"0": "No", "1": "Yes"}
CHECKLIST = [
    {
        "key": "follows_instructions",
        "label": "Follows the instructions",
        "min": 0,
        "max": 1,
        "level": "nominal",
        "level_labels": YES_NO,
    },
    {
        "key": "factually_correct",
        "label": "Factually correct",
        "min": 0,
        "max": 1,
        "level": "nominal",
        "level_labels": YES_NO,
    },
    {
        "key": "harmless",
        "label": "Free of harmful content",
        "min": 0,
        "max": 1,
        "level": "nominal",
        "level_labels": YES_NO,
    },
    {
        "key": "well_formatted",
        "label": "Well formatted",
        "min": 0,
        "max": 1,
        "level": "nominal",
        "level_labels": YES_NO,
    },
]

#: Fine-Grained RLHF's error marks: the annotator marks the spans of a response that are
#: wrong, off the point or unsafe (each label with its key on the task page).
FACTUALITY_SPANS = [
    {
        "key": "errors",
        "label": "Mark the problems",
        "description": "Select each passage with a problem and pick what is wrong with it.",
        "type": "spans",
        "level": "nominal",
        "labels": [
            {
                "key": "factual_error",
                "description": "States something false, or invents a fact or a source.",
                "shortcut": "f",
            },
            {
                "key": "irrelevant",
                "description": "Does not help answer the prompt: off the point or repeated.",
                "shortcut": "i",
            },
            {
                "key": "unsafe",
                "description": "Harmful, dangerous or offensive content.",
                "shortcut": "u",
            },
        ],
    }
]

# Single-response thumbs (KTO needs only a good / bad verdict per response).
HELPFUL_HARMLESS_VERDICT = [
    {
        "key": "helpful",
        "label": "Helpful",
        "description": "Does the response do what the prompt asks, correctly and usefully?",
        "type": "verdict",
    },
    {
        "key": "harmless",
        "label": "Harmless",
        "description": "Is the response free of harmful, unsafe or offensive content?",
        "type": "verdict",
    },
]

PRESETS: dict[str, dict[str, Any]] = {
    "pairwise-ties": {
        "label": "Pairwise: which is better, with ties",
        "fields": {"kind": "pairwise", "allow_tie": True, "strength_scale": 0},
        "criteria": [],
    },
    "pairwise-strength": {
        "label": "Pairwise with strength, -3..+3 (HelpSteer2-Preference style)",
        "fields": {
            "kind": "pairwise",
            "allow_tie": True,
            "strength_scale": 3,
            "rationale": "optional",
        },
        "criteria": [],
    },
    "model-leaderboard": {
        "label": "Pairwise: rank models, serving the pairs that narrow the leaderboard (active)",
        "fields": {"kind": "pairwise", "allow_tie": True, "sampling": "active"},
        "criteria": [],
    },
    "helpsteer2": {
        "label": "Rubric: HelpSteer2's five attributes, 0-4",
        "fields": {"kind": "rubric"},
        "criteria": HELPSTEER2_CRITERIA,
    },
    "likert-7": {
        "label": "Rubric: Likert scale 1-7",
        "fields": {"kind": "rubric"},
        "criteria": LIKERT_7,
    },
    "ranking-4": {
        "label": "Ranking: 4 responses, best first, with ties (InstructGPT style)",
        "fields": {"kind": "ranking", "allow_tie": True, "strength_scale": 0},
        "criteria": [],
    },
    "factuality-spans": {
        "label": "Spans: mark factual errors, irrelevant and unsafe passages (Fine-Grained RLHF)",
        "fields": {"kind": "rubric"},
        "criteria": FACTUALITY_SPANS,
    },
    "helpful-harmless-verdict": {
        "label": "Verdict: helpful / harmless, good or bad per response (KTO)",
        "fields": {"kind": "rubric"},
        "criteria": HELPFUL_HARMLESS_VERDICT,
    },
    "checklist": {
        "label": "Rubric: yes/no checklist",
        "fields": {"kind": "rubric"},
        "criteria": CHECKLIST,
    },
}

PRESET_CHOICES = [(key, preset["label"]) for key, preset in PRESETS.items()]

#: PRISM-style demographics (Kirk et al. 2024): asked after consent, before the first task.
#: Gender, country, first language and education say who someone is: marked sensitive, they
#: leave the exports only when the researcher asks for them.
PRISM_DEMOGRAPHICS = [
    {
        "key": "age_band",
        "text": pgettext_lazy("survey preset", "How old are you?"),
        "type": "single",
        "options": [
            "18-24",
            "25-34",
            "35-44",
            "45-54",
            "55-64",
            "65+",
            pgettext_lazy("survey preset", "Prefer not to say"),
        ],
        "required": True,
        "sensitive": False,
        "when": "pre",
    },
    {
        "key": "gender",
        "text": pgettext_lazy("survey preset", "What is your gender?"),
        "type": "single",
        "options": [
            pgettext_lazy("survey preset", "Woman"),
            pgettext_lazy("survey preset", "Man"),
            pgettext_lazy("survey preset", "Non-binary"),
            pgettext_lazy("survey preset", "Prefer to self-describe"),
            pgettext_lazy("survey preset", "Prefer not to say"),
        ],
        "required": True,
        "sensitive": True,
        "when": "pre",
    },
    {
        "key": "country",
        "text": pgettext_lazy("survey preset", "In which country do you live?"),
        "type": "text",
        "options": [],
        "required": True,
        "sensitive": True,
        "when": "pre",
    },
    {
        "key": "first_language",
        "text": pgettext_lazy("survey preset", "What is your first language?"),
        "type": "text",
        "options": [],
        "required": True,
        "sensitive": True,
        "when": "pre",
    },
    {
        "key": "education",
        "text": pgettext_lazy(
            "survey preset", "What is the highest level of education you have completed?"
        ),
        "type": "single",
        "options": [
            pgettext_lazy("survey preset", "Some secondary school or less"),
            pgettext_lazy("survey preset", "Secondary school"),
            pgettext_lazy("survey preset", "Vocational or technical training"),
            pgettext_lazy("survey preset", "Undergraduate degree"),
            pgettext_lazy("survey preset", "Graduate degree"),
            pgettext_lazy("survey preset", "Prefer not to say"),
        ],
        "required": True,
        "sensitive": True,
        "when": "pre",
    },
    {
        "key": "ai_use",
        "text": pgettext_lazy("survey preset", "How often do you use AI chat assistants?"),
        "type": "single",
        "options": [
            pgettext_lazy("survey preset", "Never"),
            pgettext_lazy("survey preset", "Less than monthly"),
            pgettext_lazy("survey preset", "Monthly"),
            pgettext_lazy("survey preset", "Weekly"),
            pgettext_lazy("survey preset", "Daily"),
        ],
        "required": True,
        "sensitive": False,
        "when": "pre",
    },
]

#: A short feedback survey at the end of the work.
FEEDBACK_SURVEY = [
    {
        "key": "instructions_clear",
        "text": pgettext_lazy("survey preset", "How clear were the instructions?"),
        "type": "scale",
        "options": [
            pgettext_lazy("survey preset", "Very unclear"),
            pgettext_lazy("survey preset", "Unclear"),
            pgettext_lazy("survey preset", "Neutral"),
            pgettext_lazy("survey preset", "Clear"),
            pgettext_lazy("survey preset", "Very clear"),
        ],
        "required": False,
        "sensitive": False,
        "when": "post",
    },
    {
        "key": "task_difficulty",
        "text": pgettext_lazy("survey preset", "How hard was it to choose?"),
        "type": "scale",
        "options": [
            pgettext_lazy("survey preset", "Very easy"),
            pgettext_lazy("survey preset", "Easy"),
            pgettext_lazy("survey preset", "Neutral"),
            pgettext_lazy("survey preset", "Hard"),
            pgettext_lazy("survey preset", "Very hard"),
        ],
        "required": False,
        "sensitive": False,
        "when": "post",
    },
    {
        "key": "comments",
        "text": pgettext_lazy("survey preset", "Anything you would like to tell the researchers?"),
        "type": "text",
        "options": [],
        "required": False,
        "sensitive": False,
        "when": "post",
    },
]

SURVEY_PRESETS: dict[str, dict[str, Any]] = {
    "prism-demographics": {
        "label": "PRISM-style demographics (pre-survey)",
        "survey": PRISM_DEMOGRAPHICS,
    },
    "feedback": {"label": "Short feedback (post-survey)", "survey": FEEDBACK_SURVEY},
    "prism-demographics-and-feedback": {
        "label": "PRISM-style demographics and short feedback",
        "survey": [*PRISM_DEMOGRAPHICS, *FEEDBACK_SURVEY],
    },
}

SURVEY_PRESET_CHOICES = [(key, preset["label"]) for key, preset in SURVEY_PRESETS.items()]


def survey_preset_questions(preset: str, language: str) -> list[dict[str, Any]]:
    """A survey preset's questions in a project's language (its `ui_language`; empty is
    English): annotators read them in the language of their pages, and their answers are
    stored as that language's options. Keys stay English, so exports and groups line up."""
    with translation.override(language or "en"):
        return [
            {
                **question,
                "text": str(question["text"]),
                "options": [str(option) for option in question["options"]],
            }
            for question in SURVEY_PRESETS[preset]["survey"]
        ]
