"""Drives LAPOR's Open311 endpoint the way third-party clients do, and prints what it saw
as JSON for the Rust test (tests/tests/e2e.rs) to check.

Reads go through georeport (PyPI), a stock GeoReport v2 client, unchanged; it has no
POST, so `create` posts the spec's form-encoded body with `requests`, as clients do.

  stock_client.py create <root> <jurisdiction> <api_key> <json|xml> <description>
  stock_client.py read   <root> <jurisdiction> <json|xml> <service_request_id>
"""
import json
import sys

import requests
import xmltodict
from georeport import GeoReport

SERVICE = "infrastruktur.jalan-jembatan"


def as_list(value):
    """xmltodict gives one repeated element as a dict, several as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def create(root, jurisdiction, api_key, fmt, description):
    response = requests.post(
        f"{root}/requests.{fmt}",
        data={
            "jurisdiction_id": jurisdiction,
            "api_key": api_key,
            "service_code": SERVICE,
            "lat": "-3.3194",
            "long": "114.5908",
            "address_string": "Jl. A. Yani km 5, Banjarmasin",
            "description": description,
            "first_name": "Siti",
            "last_name": "Kanari",
            "email": "siti.kanari@example.id",
            "phone": "0812-7777-0311",
            "media_url": "https://foto.example.id/lubang.jpg",
            "attribute[kabupaten]": "6371",
            "attribute[jenis]": "aduan",
        },
        timeout=30,
    )
    response.raise_for_status()
    if fmt == "json":
        created = response.json()
    else:
        created = as_list(xmltodict.parse(response.content)["service_requests"]["request"])
    print(json.dumps({"status": response.status_code, "created": created}))


def read(root, jurisdiction, fmt, request_id):
    client = GeoReport(root, jurisdiction=jurisdiction, output_format=fmt)
    services = as_list(client.get_service_list())
    definition = client.get_service_definition(SERVICE)
    listed = as_list(client.get_service_requests())
    by_id = as_list(client.get_service_requests(service_request_id=request_id))
    open_only = as_list(client.get_service_requests(service_code=SERVICE, status="open"))
    one = client.get_service_request(request_id)
    if fmt == "xml":
        one = as_list(one)[0]
        attributes = as_list(definition["attributes"]["attribute"])
        for attribute in attributes:
            attribute["values"] = as_list(attribute["values"]["value"])
        definition["attributes"] = attributes
    token = requests.get(f"{root}/tokens/{request_id}.{fmt}", timeout=30)
    token.raise_for_status()
    token = token.json() if fmt == "json" else as_list(xmltodict.parse(token.content)["service_requests"]["request"])
    print(
        json.dumps(
            {
                "services": services,
                "definition": definition,
                "listed": listed,
                "by_id": by_id,
                "open_only": open_only,
                "one": one,
                "token": token,
            }
        )
    )


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    try:
        if command == "create":
            create(*args)
        elif command == "read":
            read(*args)
        else:
            sys.exit(f"unknown command {command}")
    except requests.HTTPError as error:
        sys.exit(f"{error}: {error.response.text}")
