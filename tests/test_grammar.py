"""The mini_synth sentence grammar: deterministic, distinct, and correct French (numbers, agreement, elision)."""

from __future__ import annotations

import random
import re
import statistics
import time

import pytest

from alptk.corpora.mini_synth import grammar
from alptk.corpora.mini_synth.grammar import Sentence, generate_sentences, number_en, number_fr, vocabulary

NOUN = {noun.en: noun for noun in grammar.LEXICON_NOUNS}
ADJECTIVE = grammar.ADJECTIVE_BY_EN
VERB = {verb.en: verb for verb in (*grammar.INTRANSITIVE, *grammar.TRANSITIVE, grammar.HAVE, grammar.GO)}
PRONOUN = {pronoun.en: pronoun for pronoun in grammar.SUBJECT_PRONOUNS}


@pytest.fixture(scope="module")
def sentences() -> list[Sentence]:
    return generate_sentences(5000, seed=11)


def render(*parts: tuple[str, str]) -> tuple[str, str]:
    """Polished English and French of parts (noun phrases, clauses, plain (en, fr) pairs) put one after another."""
    return grammar.polish_en(" ".join(p[0] for p in parts)), grammar.polish_fr(" ".join(p[1] for p in parts))


def np(
    noun: str, det: str, plural: bool = False, adjective: str | None = None, number: int = 0, negative: bool = False
) -> grammar.Phrase:
    plural = plural or det == "num"
    return grammar.noun_phrase(NOUN[noun], det, plural, ADJECTIVE.get(adjective or ""), number, negative)


def test_same_seed_same_sentences_and_different_seed_different():
    first = generate_sentences(300, seed=5)
    assert first == generate_sentences(300, seed=5)
    assert first != generate_sentences(300, seed=6)
    assert generate_sentences(0, seed=5) == []


def test_sentences_are_distinct_and_exclude_is_honoured():
    first = generate_sentences(2000, seed=1)
    assert len({s.en for s in first}) == 2000
    exclude = {s.en for s in first[:500]}
    again = generate_sentences(2000, seed=1, exclude=exclude)
    assert len({s.en for s in again}) == 2000
    assert not exclude & {s.en for s in again}


def test_too_many_sentences_raise_value_error_saying_how_many():
    total = grammar.capacity()
    assert total > 10**9  # well over the 100,000 the corpus may ask for
    with pytest.raises(ValueError, match=f"only {total} distinct"):
        generate_sentences(total + 1, seed=1)
    with pytest.raises(ValueError, match="2 of them excluded"):
        generate_sentences(total - 1, seed=1, exclude={"a", "b"})


def test_count_of_a_small_template_matches_what_it_produces():
    _, weather, count = next(t for t in grammar.TEMPLATES if t[1].__name__ == "_weather")
    rng = random.Random(0)
    seen = {weather(rng)[0] for _ in range(150000)}
    assert len(seen) == count() == 3087


@pytest.mark.parametrize(("tags", "role"), [("person", "definite"), ("food", "exist"), ("place", "place")])
def test_noun_phrase_counts_match_enumeration(tags: str, role: str):
    singular, plural, mass = grammar.ROLES[role]
    phrases = set()
    for noun in grammar._nouns(tags, role):
        forms = [(det, False) for det in (mass if "mass" in noun.tags else singular)]
        forms += [] if "mass" in noun.tags else [(det, True) for det in plural]
        adjectives = [None, *grammar._adjectives(noun)] if role != "place" else [None]
        for det, is_plural in forms:
            for number in grammar.NUMBER_RANGE if det == "num" else [0]:
                for adjective in adjectives:
                    phrases.add(grammar.noun_phrase(noun, det, is_plural, adjective, number).en)
    assert len(phrases) == grammar._np_count(tags, role, role != "place")


def test_one_english_sentence_has_one_french_translation():
    translations: dict[str, str] = {}
    for seed in range(3):
        for s in generate_sentences(10000, seed=seed):
            assert translations.setdefault(s.en, s.fr) == s.fr, s.en


def test_vocabulary_is_large_exact_and_has_numbers():
    words = vocabulary()
    assert len(words) >= 400
    assert {w for n in range(100) for w in number_en(n).split()} <= words
    assert {"zero", "seventeen", "ninety", "nine", "an"} <= words
    used = {w for s in generate_sentences(20000, seed=1) for w in s.en.split()}
    assert used == words  # every word is produced, and nothing else


def test_lengths(sentences: list[Sentence]):
    lengths = [len(s.en.split()) for s in sentences]
    assert min(lengths) >= 4 and max(lengths) <= 14
    assert 7 <= statistics.mean(lengths) <= 9


@pytest.mark.parametrize(
    ("n", "en", "fr"),
    [
        (0, "zero", "zéro"),
        (1, "one", "un"),
        (16, "sixteen", "seize"),
        (17, "seventeen", "dix-sept"),
        (21, "twenty one", "vingt et un"),
        (22, "twenty two", "vingt-deux"),
        (30, "thirty", "trente"),
        (70, "seventy", "soixante-dix"),
        (71, "seventy one", "soixante et onze"),
        (77, "seventy seven", "soixante-dix-sept"),
        (80, "eighty", "quatre-vingts"),
        (81, "eighty one", "quatre-vingt-un"),
        (90, "ninety", "quatre-vingt-dix"),
        (91, "ninety one", "quatre-vingt-onze"),
        (99, "ninety nine", "quatre-vingt-dix-neuf"),
    ],
)
def test_numbers(n: int, en: str, fr: str):
    assert number_en(n) == en
    assert number_fr(n) == fr


def test_feminine_numbers():
    assert [number_fr(n, feminine=True) for n in (1, 11, 21, 31, 71, 81, 91)] == [
        "une",
        "onze",
        "vingt et une",
        "trente et une",
        "soixante et onze",
        "quatre-vingt-une",
        "quatre-vingt-onze",
    ]


@pytest.mark.parametrize(
    ("phrase", "en", "fr"),
    [
        (np("tree", "the"), "the tree", "l'arbre"),
        (np("tree", "the", plural=True), "the trees", "les arbres"),
        (np("tree", "a", adjective="old"), "an old tree", "un vieil arbre"),
        (np("man", "the", adjective="old"), "the old man", "le vieil homme"),
        (np("man", "the", plural=True, adjective="old"), "the old men", "les vieux hommes"),
        (np("woman", "the", adjective="old"), "the old woman", "la vieille femme"),
        (np("friend", "my", adjective="new"), "my new friend", "mon nouvel ami"),
        (np("tree", "this", adjective="beautiful"), "this beautiful tree", "ce bel arbre"),
        (np("house", "some", plural=True, adjective="beautiful"), "some beautiful houses", "de belles maisons"),
        (np("tree", "this"), "this tree", "cet arbre"),
        (np("man", "this"), "this man", "cet homme"),
        (np("owl", "the"), "the owl", "le hibou"),
        (np("owl", "this", plural=True), "these owls", "ces hiboux"),
        (np("hospital", "the"), "the hospital", "l'hôpital"),
        (np("hospital", "the", plural=True), "the hospitals", "les hôpitaux"),
        (np("school", "her"), "her school", "son école"),
        (np("school", "my", adjective="big"), "my big school", "ma grande école"),
        (np("clock", "his"), "his clock", "son horloge"),
        (np("car", "the", adjective="red"), "the red car", "la voiture rouge"),
        (np("car", "the", plural=True, adjective="white"), "the white cars", "les voitures blanches"),
        (np("dog", "the", plural=True, adjective="brown"), "the brown dogs", "les chiens marron"),
        (np("girl", "your", plural=True, adjective="happy"), "your happy girls", "vos filles heureuses"),
        (np("horse", "the", plural=True), "the horses", "les chevaux"),
        (np("mouse", "our", plural=True), "our mice", "nos souris"),
        (np("knife", "their", plural=True), "their knives", "leurs couteaux"),
        (np("grandmother", "the", plural=True), "the grandmothers", "les grands-mères"),
        (np("kite", "the", plural=True), "the kites", "les cerfs-volants"),
        (np("egg", "a"), "an egg", "un œuf"),
        (np("umbrella", "a"), "an umbrella", "un parapluie"),
        (np("apple", "num", number=12, adjective="green"), "twelve green apples", "douze pommes vertes"),
        (np("apple", "num", number=21), "twenty one apples", "vingt et une pommes"),
        (np("book", "num", number=31), "thirty one books", "trente et un livres"),
        (np("tree", "num", number=80), "eighty trees", "quatre-vingts arbres"),
        (np("bread", "some"), "some bread", "du pain"),
        (np("water", "some"), "some water", "de l'eau"),
        (np("soup", "some", adjective="hot"), "some hot soup", "de la soupe chaude"),
        (np("water", "some", negative=True), "any water", "d'eau"),
        (np("apple", "a", negative=True), "an apple", "de pomme"),
        (np("apple", "some", plural=True, negative=True), "any apples", "de pommes"),
        (np("orange", "no"), "no orange", "d'orange"),
        (np("tree", "howmany", plural=True, adjective="big"), "how many big trees", "combien de grands arbres"),
    ],
)
def test_noun_phrases(phrase: grammar.Phrase, en: str, fr: str):
    assert render(phrase) == (en, fr)


@pytest.mark.parametrize(
    ("parts", "en", "fr"),
    [
        (
            (grammar.clause(np("dog", "the"), VERB["like"], negative=True), np("cat", "the")),
            "the dog does not like the cat",
            "le chien n'aime pas le chat",
        ),
        (
            (grammar.clause(PRONOUN["i"], VERB["like"]), np("cat", "the", plural=True)),
            "i like the cats",
            "j'aime les chats",
        ),
        (
            (grammar.clause(PRONOUN["i"], VERB["have"]), np("book", "num", number=31)),
            "i have thirty one books",
            "j'ai trente et un livres",
        ),
        (
            (grammar.clause(PRONOUN["you"], VERB["see"], negative=True), np("tree", "a", negative=True)),
            "you do not see a tree",
            "vous ne voyez pas d'arbre",
        ),
        (
            (grammar.clause(PRONOUN["she"], VERB["hide"]), ("under the bed", "sous le lit")),
            "she hides under the bed",
            "elle se cache sous le lit",
        ),
        ((grammar.clause(PRONOUN["i"], VERB["have fun"], negative=True),), "i do not have fun", "je ne m'amuse pas"),
        (
            (grammar.clause(np("girl", "the", plural=True), VERB["get dressed"]),),
            "the girls get dressed",
            "les filles s'habillent",
        ),
        ((grammar.clause(PRONOUN["we"], VERB["sit"]),), "we sit", "nous nous asseyons"),
        (
            (grammar.clause(PRONOUN["they"], VERB["go"]), ("to", "à"), np("market", "the")),
            "they go to the market",
            "ils vont au marché",
        ),
        (
            (grammar.clause(PRONOUN["he"], VERB["go"]), ("to", "à"), np("hospital", "the", adjective="old")),
            "he goes to the old hospital",
            "il va au vieil hôpital",
        ),
        (
            (grammar.clause(np("child", "the", plural=True), VERB["play"]), ("chess", "à les échecs")),
            "the children play chess",
            "les enfants jouent aux échecs",
        ),
        (
            (
                ("there are", "il y a"),
                np("apple", "num", number=12, adjective="green"),
                ("on the table", "sur la table"),
            ),
            "there are twelve green apples on the table",
            "il y a douze pommes vertes sur la table",
        ),
        (
            (("where is", "où est"), np("car", "the", adjective="red")),
            "where is the red car",
            "où est la voiture rouge",
        ),
        (
            (grammar.clause(np("cat", "the"), VERB["sleep"]), ("near", "près de"), np("tree", "the", plural=True)),
            "the cat sleeps near the trees",
            "le chat dort près des arbres",
        ),
        (
            (grammar.clause(np("dog", "my"), VERB["wait"]), ("next to", "à côté de"), np("park", "the")),
            "my dog waits next to the park",
            "mon chien attend à côté du parc",
        ),
    ],
)
def test_clauses(parts: tuple[tuple[str, str], ...], en: str, fr: str):
    assert render(*parts) == (en, fr)


@pytest.mark.parametrize(
    ("plain", "polished"),
    [
        ("je aime le arbre", "j'aime l'arbre"),
        ("près de le parc", "près du parc"),
        ("à côté de les arbres", "à côté des arbres"),
        ("en face de le arbre", "en face de l'arbre"),
        ("à le marché", "au marché"),
        ("à les échecs", "aux échecs"),
        ("à la école", "à l'école"),
        ("est-ce que il dort", "est-ce qu'il dort"),
        ("il ne y a pas de arbres", "il n'y a pas d'arbres"),
        ("plus grand que un cheval", "plus grand qu'un cheval"),
        ("plus grand que onze chevaux", "plus grand que onze chevaux"),
        ("sa amie", "son amie"),
        ("le hibou et le homme", "le hibou et l'homme"),
        ("je me habille", "je m'habille"),
    ],
)
def test_polish_fr(plain: str, polished: str):
    assert grammar.polish_fr(plain) == polished


UNELIDED = re.compile(r"\b(le|la|de|je|me|se|ne|que|ce|ma|sa) (?!onze\b)([aeiouyàâéèêëîôœ]|h[oôé]|habill)")
UNCONTRACTED = re.compile(r"\b(de|à) (le|les)\b")


def test_generated_text_is_clean(sentences: list[Sentence]):
    for s in sentences:
        for text in (s.en, s.fr):
            assert text == text.lower() == text.strip() and "  " not in text, text
        assert re.fullmatch(r"[a-z]+( [a-z]+)*", s.en), s.en
        assert re.fullmatch(r"[a-zàâçéèêëîïôùûœ'-]+( [a-zàâçéèêëîïôùûœ'-]+)*", s.fr), s.fr
        assert not re.search(r"\ba [aeiou]|\ban [^aeiou]", s.en), s.en
        assert not UNELIDED.search(s.fr) and not UNCONTRACTED.search(s.fr), s.fr
        assert not re.search(r"'( |$)|(^| )'", s.fr), s.fr


def test_speed():
    start = time.perf_counter()
    generate_sentences(20000, seed=2)
    assert time.perf_counter() - start < 2
