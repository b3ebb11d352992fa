"""The inventory endpoints over HTTP (contract section 3): the seed README's flows, wire shapes, refusals."""

from uuid import UUID, uuid4

import httpx
import pytest

from services.validation import INT64_MAX
from tests.http import ok, refused, stock

WAREHOUSE_KEYS = {"id", "code", "name", "isActive"}
LOCATION_KEYS = {"id", "warehouseId", "code", "isActive"}
RECEIPT_KEYS = {
    "sku",
    "warehouseId",
    "locationId",
    "receivedQuantity",
    "onHandQuantity",
    "reservedQuantity",
    "availableQuantity",
}
BALANCE_KEYS = {
    "warehouseId",
    "warehouseCode",
    "locationId",
    "locationCode",
    "onHandQuantity",
    "reservedQuantity",
    "availableQuantity",
}
SUMMARY_KEYS = {"sku", "totalOnHandQuantity", "totalReservedQuantity", "totalAvailableQuantity", "locations"}
MOVEMENT_KEYS = {
    "id",
    "sku",
    "warehouseId",
    "warehouseCode",
    "locationId",
    "locationCode",
    "type",
    "quantity",
    "reason",
    "createdAt",
}
RESERVATION_KEYS = {
    "id",
    "sku",
    "warehouseId",
    "locationId",
    "quantity",
    "status",
    "reference",
    "createdAt",
    "releasedAt",
    "committedAt",
}


async def make_place(api: httpx.AsyncClient, warehouse: str, location: str) -> tuple[str, str]:
    created = ok(await api.post("/api/warehouses", json={"code": warehouse, "name": warehouse}), 201)
    warehouse_id = str(created["id"])
    located = ok(await api.post("/api/locations", json={"warehouseId": warehouse_id, "code": location}), 201)
    return warehouse_id, str(located["id"])


async def receive(api: httpx.AsyncClient, sku: str, where: tuple[str, str], quantity: int) -> None:
    body = {"sku": sku, "warehouseId": where[0], "locationId": where[1], "quantity": quantity}
    ok(await api.post("/api/stock/receipts", json=body))


async def movement_count(api: httpx.AsyncClient) -> int:
    return len((await api.get("/api/stock/movements", params={"limit": 500})).json())


async def test_the_seed_readme_inventory_flow(api: httpx.AsyncClient) -> None:
    # create warehouse
    response = await api.post("/api/warehouses", json={"code": " main ", "name": "Main warehouse"})
    warehouse = ok(response, 201)
    assert set(warehouse) == WAREHOUSE_KEYS
    assert (warehouse["code"], warehouse["name"], warehouse["isActive"]) == ("MAIN", "Main warehouse", True)
    assert response.headers["location"] == f"/api/warehouses/{warehouse['id']}"
    assert ok(await api.get("/api/warehouses")) == [warehouse]

    # create storage location
    response = await api.post("/api/locations", json={"warehouseId": warehouse["id"], "code": "a-01"})
    location = ok(response, 201)
    assert set(location) == LOCATION_KEYS
    assert (location["code"], location["warehouseId"], location["isActive"]) == ("A-01", warehouse["id"], True)
    assert response.headers["location"] == f"/api/locations/{location['id']}"
    assert ok(await api.get("/api/locations", params={"warehouseId": warehouse["id"]})) == [location]

    # receive stock for SKU: 200, not 201; numbers sent as strings bind
    receipt = ok(
        await api.post(
            "/api/stock/receipts",
            json={
                "sku": "arm-blk",
                "warehouseId": warehouse["id"],
                "locationId": location["id"],
                "quantity": "10",
                "reason": " initial ",
            },
        )
    )
    assert set(receipt) == RECEIPT_KEYS
    assert receipt == {
        "sku": "ARM-BLK",
        "warehouseId": warehouse["id"],
        "locationId": location["id"],
        "receivedQuantity": 10,
        "onHandQuantity": 10,
        "reservedQuantity": 0,
        "availableQuantity": 10,
    }

    # get stock by SKU (case-insensitive)
    summary = ok(await api.get("/api/stock/Arm-Blk"))
    assert set(summary) == SUMMARY_KEYS
    assert (summary["sku"], summary["totalOnHandQuantity"], summary["totalAvailableQuantity"]) == ("ARM-BLK", 10, 10)
    [balance] = summary["locations"]
    assert set(balance) == BALANCE_KEYS
    assert (balance["warehouseCode"], balance["locationCode"]) == ("MAIN", "A-01")

    # reserve stock explicitly
    response = await api.post(
        "/api/stock/reservations",
        json={
            "sku": "arm-blk",
            "warehouseId": warehouse["id"],
            "locationId": location["id"],
            "quantity": 3,
            "reference": "MANUAL-1",
        },
    )
    explicit = ok(response, 201)
    assert set(explicit) == RESERVATION_KEYS
    assert response.headers["location"] == f"/api/stock/reservations/{explicit['id']}"
    assert (explicit["status"], explicit["quantity"], explicit["reference"]) == ("Active", 3, "MANUAL-1")
    assert explicit["releasedAt"] is None and explicit["committedAt"] is None
    assert str(explicit["createdAt"]).endswith("+00:00")
    assert str(UUID(str(explicit["id"]))) == explicit["id"]

    # allocate stock reservation by SKU
    response = await api.post(
        "/api/stock/reservations/allocate", json={"sku": "ARM-BLK", "quantity": 2, "reference": "ORDER-1"}
    )
    allocated = ok(response, 201)
    assert response.headers["location"] == f"/api/stock/reservations/{allocated['id']}"
    assert (allocated["locationId"], allocated["status"]) == (location["id"], "Active")
    assert await stock(api, "ARM-BLK") == (10, 5)

    # release reservation
    released = ok(await api.post(f"/api/stock/reservations/{explicit['id']}/release"))
    assert released["status"] == "Released"
    assert str(released["releasedAt"]).endswith("+00:00")
    assert await stock(api, "ARM-BLK") == (10, 2)

    # commit reservation
    committed = ok(await api.post(f"/api/stock/reservations/{allocated['id']}/commit"))
    assert committed["status"] == "Committed"
    assert committed["committedAt"] is not None
    assert await stock(api, "ARM-BLK") == (8, 0)

    # get stock movements: newest first
    movements = ok(await api.get("/api/stock/movements", params={"sku": "arm-blk"}))
    assert isinstance(movements, list)
    assert all(set(m) == MOVEMENT_KEYS for m in movements)
    assert [(m["type"], m["quantity"], m["reason"]) for m in movements] == [
        ("Shipment", -2, "ORDER-1"),
        ("Release", -3, "MANUAL-1"),
        ("Reservation", 2, "ORDER-1"),
        ("Reservation", 3, "MANUAL-1"),
        ("Receipt", 10, "initial"),
    ]
    assert movements[0]["warehouseCode"] == "MAIN" and movements[0]["locationCode"] == "A-01"


async def test_lists_are_ordered_bare_arrays_and_movements_refuse_a_limit_out_of_range(
    api: httpx.AsyncClient,
) -> None:
    second = await make_place(api, "ZETA", "B-02")
    first = await make_place(api, "ALPHA", "C-01")
    ok(await api.post("/api/locations", json={"warehouseId": first[0], "code": "A-01"}), 201)
    assert [w["code"] for w in (await api.get("/api/warehouses")).json()] == ["ALPHA", "ZETA"]
    assert [loc["code"] for loc in (await api.get("/api/locations")).json()] == ["A-01", "B-02", "C-01"]
    assert [loc["code"] for loc in (await api.get(f"/api/locations?warehouseId={second[0]}")).json()] == ["B-02"]
    assert (await api.get(f"/api/locations?warehouseId={uuid4()}")).json() == []

    for quantity in (1, 2, 3):
        await receive(api, "SKU-A", first, quantity)
    await receive(api, "SKU-B", second, 4)
    assert [m["quantity"] for m in (await api.get("/api/stock/movements")).json()] == [4, 3, 2, 1]
    assert [m["quantity"] for m in (await api.get("/api/stock/movements?sku=sku-a&limit=2")).json()] == [3, 2]
    # The seed clamped `limit` to 1..500; every list now refuses a limit out of range instead (issue 12).
    for limit in (0, -7, 501, 100000):
        response = await api.get(f"/api/stock/movements?limit={limit}")
        assert (response.status_code, response.json()["error"]) == (400, "invalid_limit")
    assert len((await api.get("/api/stock/movements?limit=500")).json()) == 4
    assert len((await api.get("/api/stock/movements?sku=")).json()) == 4
    assert (await api.get("/api/stock/movements?sku=nothing")).json() == []


@pytest.mark.parametrize(
    ("first", "second", "status", "outcome"),
    [
        ("release", "release", 200, "Released"),
        ("commit", "commit", 200, "Committed"),
        ("release", "commit", 400, "reservation_not_active"),
        ("commit", "release", 400, "reservation_not_active"),
    ],
)
async def test_release_and_commit_follow_the_reservation_state_machine(
    api: httpx.AsyncClient, first: str, second: str, status: int, outcome: str
) -> None:
    where = await make_place(api, "MAIN", "A-01")
    await receive(api, "SKU", where, 5)
    reservation = ok(await api.post("/api/stock/reservations/allocate", json={"sku": "SKU", "quantity": 2}), 201)
    done = ok(await api.post(f"/api/stock/reservations/{reservation['id']}/{first}"))
    before = (await stock(api, "SKU"), await movement_count(api))

    response = await api.post(f"/api/stock/reservations/{reservation['id']}/{second}")
    if status == 200:
        assert ok(response) == done
        assert done["status"] == outcome
    else:
        refused(response, status, outcome)
    assert (await stock(api, "SKU"), await movement_count(api)) == before


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (None, {}),
        (b"", {"content-type": "application/json"}),
        (b"null", {"content-type": "application/json"}),
        (b"{}", {"content-type": "application/json"}),
    ],
)
@pytest.mark.parametrize("action", ["release", "commit"])
async def test_release_and_commit_accept_every_empty_body(
    api: httpx.AsyncClient, content: bytes | None, headers: dict[str, str], action: str
) -> None:
    where = await make_place(api, "MAIN", "A-01")
    await receive(api, "SKU", where, 5)
    reservation = ok(await api.post("/api/stock/reservations/allocate", json={"sku": "SKU", "quantity": 1}), 201)
    response = await api.post(f"/api/stock/reservations/{reservation['id']}/{action}", content=content, headers=headers)
    assert ok(response)["status"] == ("Released" if action == "release" else "Committed")


async def test_allocation_with_an_idempotency_key_header_is_made_once(api: httpx.AsyncClient) -> None:
    where = await make_place(api, "MAIN", "A-01")
    await receive(api, "SKU", where, 5)
    request = {"sku": "SKU", "quantity": 2, "reference": "ORDER-7"}
    headers = {"Idempotency-Key": "order-7:line-1"}
    first = ok(await api.post("/api/stock/reservations/allocate", json=request, headers=headers), 201)
    before = (await stock(api, "SKU"), await movement_count(api))
    again = await api.post("/api/stock/reservations/allocate", json=request, headers=headers)
    assert ok(again, 201) == first
    assert again.headers["location"] == f"/api/stock/reservations/{first['id']}"
    assert (await stock(api, "SKU"), await movement_count(api)) == before
    # without a key, allocation is not idempotent (contract section 3.2)
    other = ok(await api.post("/api/stock/reservations/allocate", json=request), 201)
    assert other["id"] != first["id"]
    assert await stock(api, "SKU") == (5, 4)


@pytest.fixture
async def world(api: httpx.AsyncClient) -> dict[str, str]:
    """W1/L1 holding 5 of SKU-1, and W2/L2 empty."""
    w1, l1 = await make_place(api, "W1", "L1")
    w2, l2 = await make_place(api, "W2", "L2")
    await receive(api, "SKU-1", (w1, l1), 5)
    return {"w1": w1, "l1": l1, "w2": w2, "l2": l2, "unknown": str(uuid4())}


def fill(value: object, names: dict[str, str]) -> object:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in names:
        return names[value[1:-1]]
    if isinstance(value, dict):
        return {key: fill(item, names) for key, item in value.items()}
    return value


BAD_INPUTS: list[tuple[str, str, object, int, str]] = [
    # POST /api/warehouses
    ("POST", "/api/warehouses", {}, 400, "warehouse_code_required"),
    ("POST", "/api/warehouses", {"code": "  ", "name": "x"}, 400, "warehouse_code_required"),
    ("POST", "/api/warehouses", {"code": "NEW"}, 400, "warehouse_name_required"),
    ("POST", "/api/warehouses", {"code": "NEW", "name": " "}, 400, "warehouse_name_required"),
    ("POST", "/api/warehouses", {"code": "w1", "name": "again"}, 400, "warehouse_code_already_exists"),
    ("POST", "/api/warehouses", {"code": "C" * 101, "name": "x"}, 400, "warehouse_code_too_long"),
    ("POST", "/api/warehouses", {"code": "NEW", "name": "n" * 201}, 400, "warehouse_name_too_long"),
    ("POST", "/api/warehouses", {"code": "A\u0000B", "name": "x"}, 400, "warehouse_code_invalid"),
    ("POST", "/api/warehouses", {"code": 5, "name": "x"}, 400, "invalid_request"),
    ("POST", "/api/warehouses", None, 400, "body_required"),
    # GET /api/locations
    ("GET", "/api/locations?warehouseId=xyz", None, 400, "invalid_request"),
    # POST /api/locations
    ("POST", "/api/locations", {}, 400, "location_code_required"),
    ("POST", "/api/locations", {"warehouseId": "{w1}", "code": ""}, 400, "location_code_required"),
    ("POST", "/api/locations", {"code": "A-01"}, 400, "warehouse_not_found"),
    ("POST", "/api/locations", {"warehouseId": "{unknown}", "code": "A-01"}, 400, "warehouse_not_found"),
    ("POST", "/api/locations", {"warehouseId": "{w1}", "code": "l1"}, 400, "location_code_already_exists"),
    ("POST", "/api/locations", {"warehouseId": "{w1}", "code": "L" * 101}, 400, "location_code_too_long"),
    ("POST", "/api/locations", {"warehouseId": "nope", "code": "A"}, 400, "invalid_request"),
    # POST /api/stock/receipts
    ("POST", "/api/stock/receipts", {}, 400, "sku_required"),
    ("POST", "/api/stock/receipts", {"sku": " ", "quantity": 1}, 400, "sku_required"),
    ("POST", "/api/stock/receipts", {"sku": "S" * 101, "quantity": 1}, 400, "sku_too_long"),
    ("POST", "/api/stock/receipts", {"sku": "SKU-1"}, 400, "receipt_quantity_invalid"),
    ("POST", "/api/stock/receipts", {"sku": "SKU-1", "quantity": -1}, 400, "receipt_quantity_invalid"),
    ("POST", "/api/stock/receipts", {"sku": "SKU-1", "quantity": INT64_MAX + 1}, 400, "receipt_quantity_invalid"),
    ("POST", "/api/stock/receipts", {"sku": "SKU-1", "quantity": 10**40}, 400, "receipt_quantity_invalid"),
    (
        "POST",
        "/api/stock/receipts",
        {"sku": "SKU-1", "warehouseId": "{w1}", "locationId": "{l1}", "quantity": INT64_MAX},
        400,
        "receipt_quantity_invalid",
    ),
    ("POST", "/api/stock/receipts", {"sku": "SKU-1", "quantity": 1, "reason": "r" * 1001}, 400, "reason_too_long"),
    ("POST", "/api/stock/receipts", {"sku": "SKU-1", "quantity": 1}, 400, "warehouse_not_found"),
    ("POST", "/api/stock/receipts", {"sku": "SKU-1", "quantity": 1, "warehouseId": "{w1}"}, 400, "location_not_found"),
    (
        "POST",
        "/api/stock/receipts",
        {"sku": "SKU-1", "quantity": 1, "warehouseId": "{w1}", "locationId": "{l2}"},
        400,
        "location_warehouse_mismatch",
    ),
    ("POST", "/api/stock/receipts", {"sku": "SKU-1", "quantity": 1.5}, 400, "invalid_request"),
    ("POST", "/api/stock/receipts", {"sku": "SKU-1", "quantity": None}, 400, "invalid_request"),
    # GET /api/stock/{sku}
    ("GET", "/api/stock/unknown", None, 404, "stock_not_found"),
    ("GET", "/api/stock/reservations", None, 404, "stock_not_found"),
    ("GET", "/api/stock/%20", None, 404, "stock_not_found"),
    ("GET", "/api/stock/" + "S" * 300, None, 404, "stock_not_found"),
    ("GET", "/api/stock/A%00B", None, 404, "stock_not_found"),
    # GET /api/stock/movements
    ("GET", "/api/stock/movements?limit=abc", None, 400, "invalid_request"),
    ("GET", "/api/stock/movements?limit=1.5", None, 400, "invalid_request"),
    # POST /api/stock/reservations
    ("POST", "/api/stock/reservations", {}, 400, "sku_required"),
    ("POST", "/api/stock/reservations", {"sku": "SKU-1"}, 400, "reservation_quantity_invalid"),
    ("POST", "/api/stock/reservations", {"sku": "SKU-1", "quantity": -2}, 400, "reservation_quantity_invalid"),
    (
        "POST",
        "/api/stock/reservations",
        {"sku": "SKU-1", "quantity": 1, "reference": "r" * 201},
        400,
        "reference_too_long",
    ),
    ("POST", "/api/stock/reservations", {"sku": "SKU-1", "quantity": 1}, 400, "stock_item_not_found"),
    (
        "POST",
        "/api/stock/reservations",
        {"sku": "SKU-1", "quantity": 1, "warehouseId": "{w2}", "locationId": "{l2}"},
        400,
        "stock_item_not_found",
    ),
    (
        "POST",
        "/api/stock/reservations",
        {"sku": "sku-1", "quantity": 6, "warehouseId": "{w1}", "locationId": "{l1}"},
        400,
        "insufficient_stock",
    ),
    # POST /api/stock/reservations/allocate
    ("POST", "/api/stock/reservations/allocate", {}, 400, "sku_required"),
    ("POST", "/api/stock/reservations/allocate", {"sku": "SKU-1"}, 400, "reservation_quantity_invalid"),
    (
        "POST",
        "/api/stock/reservations/allocate",
        {"sku": "SKU-1", "quantity": 10**19},
        400,
        "reservation_quantity_invalid",
    ),
    ("POST", "/api/stock/reservations/allocate", {"sku": "NONE", "quantity": 1}, 400, "stock_item_not_found"),
    ("POST", "/api/stock/reservations/allocate", {"sku": "SKU-1", "quantity": 6}, 400, "insufficient_stock"),
    ("POST", "/api/stock/reservations/allocate", "[1]", 400, "invalid_request"),
    # POST /api/stock/reservations/{id}/release and /commit
    ("POST", "/api/stock/reservations/{unknown}/release", None, 400, "reservation_not_found"),
    ("POST", "/api/stock/reservations/{unknown}/commit", None, 400, "reservation_not_found"),
    ("POST", "/api/stock/reservations/not-a-uuid/release", None, 404, "not_found"),
    ("POST", "/api/stock/reservations/not-a-uuid/commit", None, 404, "not_found"),
    ("GET", "/api/stock/reservations/{unknown}/release", None, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), BAD_INPUTS)
async def test_bad_inputs_are_refused_with_the_contract_code(
    api: httpx.AsyncClient, world: dict[str, str], method: str, path: str, body: object, status: int, code: str
) -> None:
    before = (await stock(api, "SKU-1"), await movement_count(api))
    for name, value in world.items():
        path = path.replace("{" + name + "}", value)
    if body is None:
        response = await api.request(method, path)
    elif isinstance(body, str):
        response = await api.request(method, path, content=body, headers={"content-type": "application/json"})
    else:
        response = await api.request(method, path, json=fill(body, world))
    refused(response, status, code)
    assert (await stock(api, "SKU-1"), await movement_count(api)) == before


async def test_an_over_long_idempotency_key_is_refused(api: httpx.AsyncClient, world: dict[str, str]) -> None:
    response = await api.post(
        "/api/stock/reservations/allocate",
        json={"sku": "SKU-1", "quantity": 1},
        headers={"Idempotency-Key": "k" * 201},
    )
    refused(response, 400, "idempotency_key_too_long")
