from tests.support import Sim, assert_conforms, lookup, new_id


def test_lookup_of_a_test_meter_conforms(sim: Sim) -> None:
    lid = new_id()
    r = sim.post(f"/meterLookups/{lid}", lookup("TST001", lid))
    assert r.status_code == 201, r.text
    assert_conforms("createMeterLookup", r)
    assert r.json()["minAmount"]["amount"] == 10000
