*** Settings ***
Documentation     What a user gets to look at and build on: the results folder of a
...               run, a device's own account of itself, and `tifed step`, which gives
...               the same trained model whatever engine runs it.
Resource          acceptance.resource
Test Timeout      5 minutes
Test Teardown     Stop The Fleet

*** Test Cases ***
A run leaves results.json, rounds.csv and accuracy.png that any tool can read
    Run Federated Training    board=host    devices=2    mode=full    rounds=3
    Results Files Should Be Present And Readable
    Devices Should Have Run On    host    host

A run without validation still leaves readable results
    Run Federated Training    board=sim    devices=2    mode=single    rounds=2    validate=False
    Results Files Should Be Present And Readable

A host device reports its board and RAM
    Start A Fleet Of host x 1
    A Device Should Report Its Board And RAM

Two QEMU micro:bit devices report their board and RAM
    Start A Fleet Of qemu-microbit x 2
    A Device Should Report Its Board And RAM

tifed step trains every layer identically on the reference and the host firmware
    Step Results Should Be Identical For Engines    reference    host
    ...    model=64-32-10    samples=60    batch=25    epochs=2    lr_inv=2048

tifed step trains one layer identically on the reference and the host firmware
    Step Results Should Be Identical For Engines    reference    host
    ...    model=20-12-8-5    samples=37    batch=8    epochs=3    lr_inv=1000    layer=1    seed=7
