"""Interoperability check: a real third-party SOAP client (zeep) built from Holdpoint's
WSDL calls the ServerItemService over SOAP 1.1 and 1.2.

Usage: zeep_server_items.py BASE_URL USER PASSWORD SERIAL_A SERIAL_B SERIAL_C
Serial A is opened and finished over SOAP 1.1, B failed over SOAP 1.2, C opened over
SOAP 1.2 with WS-Addressing and finished over SOAP 1.2 with fields. Prints one line per check and exits non-zero on the first failure.
"""

import sys

import requests
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport

WSA = "{http://www.w3.org/2005/08/addressing}"


def main():
    base, user, password, serial_a, serial_b, serial_c = sys.argv[1:7]
    session = requests.Session()
    session.auth = (user, password)
    transport = Transport(session=session, timeout=30)
    settings = Settings(strict=True)
    wsdl = f"{base}/soap/server-items?wsdl"
    soap11 = Client(wsdl, transport=transport, settings=settings, port_name="ServerItemSoap11")
    soap12 = Client(wsdl, transport=transport, settings=settings, port_name="ServerItemSoap12")

    item = soap11.service.OpenServerItem(serialNumber=serial_a)
    assert item.serialNumber == serial_a, item
    assert item.state == "open", item
    names = {field.name: field._value_1 for field in item.fields.field}
    assert names.get("order_id") == "Z-1", names
    # A null field keeps its name: `approved` has no value yet.
    nulls = {field.name for field in item.fields.field if field.nil}
    assert nulls == {"approved"}, [(f.name, f.nil, f._value_1) for f in item.fields.field]
    print("soap11 open: ok")

    field_type = soap11.get_type("{urn:holdpoint:server-items}Field")
    fields = {"field": [field_type("true", name="approved"), field_type("42", name="amount")]}
    result = soap11.service.FinishServerItem(serialNumber=serial_a, fields=fields)
    assert result.status == "waiting", result
    assert result.replayed is False, result
    print("soap11 finish: ok")

    try:
        soap11.service.FinishServerItem(serialNumber=serial_a)
        raise AssertionError("a second finish must fault")
    except Fault as fault:
        assert fault.code.endswith("Client"), fault.code
        assert "finished already" in fault.message, fault.message
        assert fault.detail is not None
        print("soap11 repeat fault: ok")

    try:
        soap11.service.OpenServerItem(serialNumber=serial_a + "x")
        raise AssertionError("a forged serial must fault")
    except Fault as fault:
        assert "unknown serial" in fault.message, fault.message
        print("soap11 unknown serial fault: ok")

    # WS-Addressing 1.0: zeep addresses every call whose WSDL message has a wsam:Action
    # (adding its WsAddressingPlugin as well would send every header twice). The answer
    # carries the WSDL's response action and relates to the request's MessageID.
    history = HistoryPlugin()
    addressed = Client(wsdl, transport=transport, settings=settings,
                       port_name="ServerItemSoap12", plugins=[history])
    item = addressed.service.OpenServerItem(serialNumber=serial_c)
    assert item.serialNumber == serial_c, item
    sent, received = history.last_sent["envelope"], history.last_received["envelope"]
    assert sent.find(f".//{WSA}Action") is not None, "zeep sent no wsa:Action"
    message_id = sent.find(f".//{WSA}MessageID").text
    assert received.find(f".//{WSA}RelatesTo").text == message_id
    action = received.find(f".//{WSA}Action").text
    assert action == "urn:holdpoint:server-items/OpenServerItemResponse", action
    print("soap12 with ws-addressing: ok")
    try:
        addressed.service.OpenServerItem(serialNumber=serial_c + "x")
        raise AssertionError("a forged serial must fault")
    except Fault as fault:
        assert "unknown serial" in fault.message, fault.message
        received = history.last_received["envelope"]
        assert received.find(f".//{WSA}RelatesTo") is not None, "the fault relates to the request"
        print("soap12 with ws-addressing fault: ok")

    failed = soap12.service.FailServerItem(serialNumber=serial_b, message="rejected by ERP")
    assert failed.status == "failed", failed
    print("soap12 fail: ok")

    finished = soap12.service.FinishServerItem(
        serialNumber=serial_c, fields={"field": [field_type("true", name="approved")]},
        idempotencyKey="zeep-1")
    again = soap12.service.FinishServerItem(serialNumber=serial_c, idempotencyKey="zeep-1")
    assert finished.replayed is False and again.replayed is True, (finished, again)
    print("soap12 finish with idempotency key: ok")

    try:
        soap12.service.FinishServerItem(serialNumber=serial_c)
        raise AssertionError("a second finish must fault")
    except Fault as fault:
        assert "finished already" in fault.message, fault.message
        print("soap12 repeat fault: ok")

    session.auth = (user, "wrong")
    try:
        soap12.service.OpenServerItem(serialNumber=serial_c)
        raise AssertionError("wrong credentials must fault")
    except Fault as fault:
        assert "invalid credentials" in fault.message, fault.message
        print("soap12 wrong credentials fault: ok")
    print("all zeep checks passed")


if __name__ == "__main__":
    main()
