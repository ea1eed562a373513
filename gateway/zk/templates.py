"""The question templates recipients may ask: the `questions:` section of the matrix version in force.

The matrix (`policies.questions`) declares the templates and which recipient role may ask which for which purpose;
this module joins them with the attribute registry, which only the gateway knows: a template's attribute must be
registered and its operands must suit the attribute's kind. A recipient names a template; the relay checks that
the question carries exactly the declared one (no threshold slipped in) and that its role may ask it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.zk.attributes import AttributeRegistry, UnknownAttributeError
from policies import PolicyStore, Problem, Questions, TemplateSpec
from zkp import Predicate, QuestionTemplate, ZkpError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TemplateBook:
    """The askable templates of one matrix version."""

    version: int
    templates: Mapping[str, QuestionTemplate]
    asked: Questions

    @property
    def budget(self) -> int:
        return self.asked.budget

    def get(self, template_id: str) -> QuestionTemplate | None:
        return self.templates.get(template_id)

    def allows(self, role: str, question: QuestionTemplate, purpose: str) -> bool:
        """Whether a recipient of `role` may ask exactly `question` for `purpose` under this version."""
        return self.get(question.id) == question and question.id in self.asked.allowed(role, purpose)


def question_template(spec: TemplateSpec, registry: AttributeRegistry) -> QuestionTemplate:
    """The zkp template of a declared one, checked against the registered attribute (raises ZkpError or
    UnknownAttributeError)."""
    predicate = Predicate.from_json({"op": spec.op, "operands": [*spec.operands]})
    template = QuestionTemplate(spec.id, spec.attribute, predicate)
    template.check(registry.get(spec.attribute).schema)
    return template


def attribute_problems(questions: Questions, registry: AttributeRegistry, file: str) -> list[Problem]:
    """What the policies cannot check in a matrix's questions: unknown attributes, operands unfit for the kind."""
    problems = []
    for spec in questions.templates:
        try:
            question_template(spec, registry)
        except UnknownAttributeError:
            known = ", ".join(registry.ids)
            problems.append(
                Problem(
                    file,
                    spec.line,
                    f"question template {spec.id!r}: unknown attribute {spec.attribute!r} (registered: {known})",
                )
            )
        except ZkpError as exc:
            problems.append(Problem(file, spec.line, f"question template {spec.id!r}: {exc}"))
    return problems


class TemplateBooks:
    """Template books by matrix version: a stored version never changes, so each is built once per process, while
    the version in force is read from the database on every question (a change applies at once, on every worker).
    A template the registry no longer admits (uploads are checked; the registry may be swapped later) is left out,
    so it cannot be asked."""

    def __init__(self, registry: AttributeRegistry) -> None:
        self.registry = registry
        self._books: dict[int, TemplateBook] = {}

    def current(self, store: PolicyStore) -> TemplateBook:
        version, questions = store.questions_in_force()
        return self._book(version, questions)

    def at(self, store: PolicyStore, version: int) -> TemplateBook:
        book = self._books.get(version)
        return book if book is not None else self._book(version, store.questions(version))

    def _book(self, version: int, questions: Questions) -> TemplateBook:
        book = self._books.get(version)
        if book is None:
            templates = {}
            for spec in questions.templates:
                try:
                    templates[spec.id] = question_template(spec, self.registry)
                except (UnknownAttributeError, ZkpError) as exc:
                    logger.warning("matrix version %d: question template %r cannot be asked: %s", version, spec.id, exc)
            book = self._books[version] = TemplateBook(version, templates, questions)
        return book
