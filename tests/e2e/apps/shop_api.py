"""A small, independent REST service for the OpenAPI import tests (FastAPI: its document is
OpenAPI 3.1 with `$ref`s, `anyOf` nullables and validation errors of its own)."""

from __future__ import annotations

from fastapi import Cookie, FastAPI, Header, HTTPException, Query, Request
from pydantic import BaseModel, Field

app = FastAPI(title="Shop", version="1.0")
ITEMS: dict[int, dict] = {1: {"id": 1, "name": "pen", "price": 1.5, "tags": ["office"], "description": None}}


class NewItem(BaseModel):
    name: str = Field(min_length=1, description="What it is called")
    price: float = Field(gt=0)
    tags: list[str] = []
    description: str | None = None


@app.get("/items/{item_id}", operation_id="getItem", summary="Get one item", tags=["items"])
def get_item(item_id: int, fields: list[str] = Query(default=[]), verbose: bool = False):
    item = ITEMS.get(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail=f"no item {item_id}")
    shown = {k: v for k, v in item.items() if not fields or k in fields}
    return {"item": shown, "verbose": verbose}


@app.post("/items", operation_id="createItem", summary="Create an item", tags=["items"], status_code=201)
def create_item(item: NewItem):
    new_id = max(ITEMS) + 1
    ITEMS[new_id] = {"id": new_id, **item.model_dump()}
    return ITEMS[new_id]


@app.delete("/items/{item_id}", operation_id="deleteItem", summary="Delete an item", tags=["items"])
def delete_item(item_id: int, x_token: str = Header()):
    if x_token != "let-me":
        raise HTTPException(status_code=403, detail="bad token")
    if ITEMS.pop(item_id, None) is None:
        raise HTTPException(status_code=404, detail=f"no item {item_id}")
    return {"deleted": item_id}


@app.post(
    "/items/import",
    operation_id="importXml",
    summary="Import items from XML",
    openapi_extra={"requestBody": {"required": True,
                                   "content": {"application/xml": {"schema": {"type": "string"}}}}},
)
async def import_xml(request: Request):
    return {"bytes": len(await request.body())}


@app.get("/me", operation_id="whoAmI", summary="The signed-in user")
def who_am_i(session: str = Cookie()):
    return {"session": session}
