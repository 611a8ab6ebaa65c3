"""The dynamic mode's search index on its own: words, ranking signals, limits."""

from __future__ import annotations

from gateway.search import ToolDocument, ToolIndex, one_line, words
from gateway.testing import make_tool


def document(name: str, method: str, path: str, summary: str, **tool: object) -> ToolDocument:
    return ToolDocument(make_tool(name, **tool), method, path, summary, ())


INDEX = ToolIndex(
    [
        document("listRepos", "GET", "/orgs/{org}/repos", "List organization repositories"),
        document("createRepo", "POST", "/orgs/{org}/repos", "Create an organization repository"),
        document("deleteRepo", "DELETE", "/repos/{owner}/{repo}", "Delete a repository"),
        document("getPayout", "GET", "/v1/payouts/{payout}", "Retrieve a payout"),
        document("createPayout", "POST", "/v1/payouts", "Create a payout"),
        document(
            "listTeamRepos",
            "GET",
            "/orgs/{org}/teams/{team_slug}/repos",
            "List team repositories",
        ),
        document("getPhoto", "GET", "/users/{user-id}/photo", "Get photo"),
    ]
)


def names(query: str, limit: int = 3) -> list[str]:
    return [hit.name for hit in INDEX.search(query, limit)]


def test_words_split_names_and_paths_the_way_people_write_them():
    assert words("listForOrg") == ["list", "for", "org"]
    assert words("list-for-org /orgs/{org}/repos") == ["list", "for", "org", "orgs", "org", "repos"]
    assert words("<p>Returns a <b>list</b></p>") == ["returns", "a", "list"]
    assert words("getSSOConfig") == ["get", "sso", "config"]


def test_the_verb_picks_the_method_and_the_shorter_path_wins():
    assert names("make a new repo for my organization")[0] == "createRepo"
    assert names("show an organization's repositories")[0] == "listRepos"
    assert names("remove a repository")[0] == "deleteRepo"


def test_synonyms_and_joined_words_reach_the_api_s_own_words():
    assert names("get a user's profile picture")[0] == "getPhoto"
    assert names("pay out money")[0] in {"createPayout", "getPayout"}


def test_limit_and_queries_with_nothing_to_search_for():
    assert len(INDEX.search("repositories", 2)) == 2
    assert INDEX.search("how do I do it", 5) == []
    assert INDEX.search("", 5) == []
    assert INDEX.search("zebra", 5) == []


def test_a_hit_carries_one_line_and_the_path_template():
    hit = INDEX.search("delete a repository", 1)[0]
    assert (hit.name, hit.method, hit.path, hit.description) == (
        "deleteRepo",
        "DELETE",
        "/repos/{owner}/{repo}",
        "Delete a repository",
    )
    assert one_line("\n  <p>First   line</p>\nsecond") == "First line"
    assert len(one_line("x" * 500)) == 200
