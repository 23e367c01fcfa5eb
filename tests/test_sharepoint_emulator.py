"""The emulator is as strict as SharePoint where it matters, driven by the real office365 client.

A green publisher test means something only if the emulator refuses what
SharePoint refuses; these tests pin that down.
"""
from __future__ import annotations

import pytest
import requests
from office365.runtime.client_request_exception import ClientRequestException
from office365.runtime.exceptions import ObjectNotFoundException
from office365.sharepoint.client_context import ClientContext
from office365.sharepoint.exceptions import SharePointException

from tests.support.sp_emulator import SharePointEmulator, encode_name, split_segments


@pytest.fixture
def site():
    server = SharePointEmulator().start()
    server.add_library("Routes")
    server.add_library("Factures", force_checkout=True)
    yield server
    server.stop()


def context(site: SharePointEmulator, token: str = "test-token") -> ClientContext:
    return ClientContext(site.url).with_access_token(
        lambda: {"access_token": token, "token_type": "Bearer", "expires_in": 3600})


def folder(ctx: ClientContext, library: str = "Routes"):
    return ctx.web.get_folder_by_server_relative_url(f"/sites/courrier/{library}")


def test_encoded_internal_names():
    assert encode_name("Date de réception") == "Date_x0020_de_x0020_r_x00e9_cept"  # cut to 32
    assert encode_name("Empreinte SHA-256") == "Empreinte_x0020_SHA_x002d_256"
    assert encode_name("Catégorie") == "Cat_x00e9_gorie"


def test_segments_split_outside_literals():
    assert split_segments("Web/getFolderByServerRelativeUrl('/sites/a/b')/Files/add(url='x/y',overwrite=true)") == [
        "Web", "getFolderByServerRelativeUrl('/sites/a/b')", "Files", "add(url='x/y',overwrite=true)"]


def test_wrong_token_is_refused(site):
    with pytest.raises(ClientRequestException) as caught:
        context(site, "other").web.get().execute_query()
    assert caught.value.response.status_code == 401


def test_requests_without_a_valid_digest_are_refused(site):
    base = f"{site.url}/_api"
    headers = {"Authorization": "Bearer test-token", "Accept": "application/json;odata=verbose"}
    answer = requests.post(f"{base}/Web/getFolderByServerRelativeUrl('/sites/courrier/Routes')/Folders/Add('x')",
                           headers=headers, timeout=10)
    assert answer.status_code == 403 and answer.json()["error"]["code"].startswith("-2130575251")
    answer = requests.get(f"{base}/Web", headers={**headers, "X-RequestDigest": "0xFORGED,1 Jan 2026"}, timeout=10)
    assert answer.status_code == 403
    digest = requests.post(f"{base}/contextinfo", headers=headers, timeout=10).json()["d"][
        "GetContextWebInformation"]["FormDigestValue"]
    assert requests.get(f"{base}/Web", headers={**headers, "X-RequestDigest": digest}, timeout=10).ok
    site.expire_digests()
    assert requests.get(f"{base}/Web", headers={**headers, "X-RequestDigest": digest}, timeout=10).status_code == 403
    assert "x" not in [f.name for f in site.folders.values()]


def test_missing_file_and_folder_answer_like_sharepoint(site):
    ctx = context(site)
    with pytest.raises(SharePointException) as caught:
        ctx.web.get_file_by_server_relative_url("/sites/courrier/Routes/none.pdf").get().execute_query()
    assert caught.value.response.status_code == 404 and "-2130575338" in caught.value.code
    ctx = context(site)
    with pytest.raises(ObjectNotFoundException) as caught:
        ctx.web.get_folder_by_server_relative_url("/sites/courrier/Routes/none").get().execute_query()
    assert caught.value.response.status_code == 404
    ctx = context(site)
    found = ctx.web.get_folder_by_server_relative_url("/sites/courrier/Routes/none").select(["Exists"]).get()
    ctx.execute_query()
    assert found.properties["Exists"] is False


def test_folder_add_is_idempotent(site):
    ctx = context(site)
    first = folder(ctx).folders.add("Courrier entrant").execute_query()
    again = folder(ctx).folders.add("Courrier entrant").execute_query()
    assert first.properties["UniqueId"] == again.properties["UniqueId"]


@pytest.mark.parametrize("name", ["a:b.pdf", "a?.pdf", " lead.pdf", "trail.pdf ", "CON.pdf", "x_vti_y.pdf",
                                  "~$lock.pdf", "desktop.ini", "end.", "a|b.pdf", "a\"b.pdf"])
def test_forbidden_names_are_refused(site, name):
    ctx = context(site)
    with pytest.raises(ClientRequestException) as caught:
        folder(ctx).files.add(name, b"x", True).execute_query()
    assert caught.value.response.status_code == 400
    assert not site.files


def test_forms_folder_at_a_library_root_and_long_paths_are_refused(site):
    ctx = context(site)
    with pytest.raises(ClientRequestException):
        folder(ctx).folders.add("Forms").execute_query()
    ctx = context(site)
    with pytest.raises(ClientRequestException) as caught:
        folder(ctx).files.add("n" * 390 + ".pdf", b"x", True).execute_query()
    assert "400 characters" in caught.value.message


def test_adding_over_an_existing_file_without_overwrite_is_refused(site):
    ctx = context(site)
    folder(ctx).files.add("a.pdf", b"one", False).execute_query()
    with pytest.raises(ClientRequestException) as caught:
        folder(ctx).files.add("a.pdf", b"two", False).execute_query()
    assert caught.value.response.status_code == 400 and caught.value.code.startswith("-2130575257")


def test_merge_checks_entity_type_and_property_names(site):
    ctx = context(site)
    added = folder(ctx).files.add("a.pdf", b"one", True).execute_query()
    item = added.listItemAllFields
    item.set_property("Cat_x00e9_gorie", "Routes").update().execute_query()  # the client reads the type first
    stored = next(iter(site.files.values()))
    assert stored.values["Cat_x00e9_gorie"] == "Routes"

    ctx = context(site)
    item = ctx.web.get_file_by_id(stored.unique_id).listItemAllFields
    item.set_property("Catégorie", "Routes").update()
    with pytest.raises(ClientRequestException) as caught:
        ctx.execute_query()
    assert "The property 'Catégorie' does not exist" in caught.value.message

    headers = {"Authorization": "Bearer test-token", "Accept": "application/json;odata=verbose",
               "Content-Type": "application/json;odata=verbose"}
    base = f"{site.url}/_api"
    digest = requests.post(f"{base}/contextinfo", headers=headers, timeout=10).json()["d"][
        "GetContextWebInformation"]["FormDigestValue"]
    answer = requests.post(f"{base}/Web/GetFileById('{stored.unique_id}')/ListItemAllFields",
                           headers={**headers, "X-RequestDigest": digest, "X-HTTP-Method": "MERGE", "IF-MATCH": "*"},
                           json={"__metadata": {"type": "SP.Data.RoutesListItem"}, "Title": "x"}, timeout=10)
    assert answer.status_code == 400 and "could not be resolved" in answer.text


def test_validate_update_reports_field_errors_inside_a_200(site):
    ctx = context(site)
    added = folder(ctx).files.add("a.pdf", b"one", True).execute_query()
    result = added.listItemAllFields.validate_update_list_item(
        {"Confiance": "0.5", "Date_x0020_du_x0020_courrier": "2026-03-12", "Title": "ok", "Nope": "x"},
        new_document_update=True).execute_query()
    verdict = {v.FieldName: v.HasException for v in result.value}
    assert verdict == {"Confiance": True, "Date_x0020_du_x0020_courrier": True, "Title": False, "Nope": True}
    assert next(iter(site.files.values())).values.get("Title") is None  # nothing applied


def test_checkout_library_hides_files_until_check_in(site):
    from office365.sharepoint.files.checkin_type import CheckinType

    ctx = context(site)
    added = folder(ctx, "Factures").files.add("a.pdf", b"one", True).execute_query()
    assert added.properties["CheckOutType"] == 0
    assert site.files_in("Factures", visible_only=True) == []
    added.checkin("ok", CheckinType.MajorCheckIn).execute_query()
    assert [f.name for f in site.files_in("Factures", visible_only=True)] == ["a.pdf"]
    with pytest.raises(ClientRequestException) as caught:  # a checked-in file must be checked out to change
        ctx.web.get_file_by_id(added.unique_id).listItemAllFields.validate_update_list_item(
            {"Title": "x"}).execute_query()
    assert caught.value.response.status_code == 423


def test_upload_session_offsets_are_checked(site):
    ctx = context(site)
    added = folder(ctx).files.add("big.pdf", b"", True).execute_query()
    ctx.web.get_file_by_id(added.unique_id).start_upload("u1", b"a" * 10).execute_query()
    with pytest.raises(ClientRequestException) as caught:
        ctx.web.get_file_by_id(added.unique_id).continue_upload("u1", 5, b"b" * 10).execute_query()
    assert caught.value.response.status_code == 400
    ctx = context(site)
    ctx.web.get_file_by_id(added.unique_id).continue_upload("u1", 10, b"b" * 10).execute_query()
    ctx.web.get_file_by_id(added.unique_id).finish_upload("u1", 20, b"c" * 5).execute_query()
    assert site.files_in("Routes")[0].content == b"a" * 10 + b"b" * 10 + b"c" * 5


def test_faults_and_the_request_log(site):
    site.inject(r"^Web$", "429", times=1, retry_after=7)
    ctx = context(site)
    with pytest.raises(ClientRequestException) as caught:
        ctx.web.get().execute_query()
    assert caught.value.response.status_code == 429 and caught.value.response.headers["Retry-After"] == "7"
    site.inject(r"^Web$", "drop")
    with pytest.raises(requests.ConnectionError):
        context(site).web.get().execute_query()
    context(site).web.get().execute_query()
    assert [r.status for r in site.requests(r"^Web$")] == [429, 0, 200]


def test_list_item_all_fields_is_expanded_inside_an_expanded_collection(site):
    ctx = context(site)
    folder(ctx).upload_file("a.pdf", b"%PDF a").execute_query()
    [file] = site.files_in("Routes")
    site.agent_sets(file, "Identifiant", "uid-a")
    files = folder(ctx).files.expand(["ListItemAllFields"]).get().execute_query()
    assert [f.listItemAllFields.properties.get("Identifiant") for f in files] == ["uid-a"]


def test_caml_queries_follow_the_list_view_threshold_and_scope(site):
    from office365.sharepoint.listitems.caml.query import CamlQuery

    site.seed("Routes", "Courrier entrant", 5001, Identifiant="u{n}", Lot="lot {n}")

    def query(where: str, scope: str = " Scope='RecursiveAll'"):
        view = f"<View{scope}><Query><Where>{where}</Where></Query><RowLimit>1</RowLimit></View>"
        items = context(site).web.lists.get_by_title("Routes").get_items(CamlQuery(ViewXml=view))
        return [i.properties.get("Identifiant") for i in items.execute_query()]

    eq = "<Eq><FieldRef Name='{}'/><Value Type='Text'>{}</Value></Eq>"
    assert query(eq.format("Identifiant", "u4321")) == ["u4321"]           # indexed: found past 5,000
    assert query(eq.format("Identifiant", "u4321"), scope="") == []         # root folder only without Scope
    with pytest.raises(Exception, match="list view threshold"):
        query(eq.format("Lot", "lot 12"))                                   # not indexed: refused
