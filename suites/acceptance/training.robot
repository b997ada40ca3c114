*** Settings ***
Documentation     A user trains a network, federated, on a fleet of devices: every
...               layer on every device (full mode) or one layer per device (single
...               mode), on host processes, on QEMU boards, on a mixed fleet, on a
...               small micro:bit and under Renode. Each run must learn the digits and
...               every device's update must equal the NumPy reference bit for bit.
Resource          acceptance.resource
Test Timeout      10 minutes

*** Test Cases ***
Four host devices train the whole network to the paper's accuracy
    Run Federated Training    board=host    devices=4    mode=full    dataset=digits    model=64-32-10
    Final Accuracy Should Be At Least    0.88
    All Updates Should Be Bit-Exact
    Devices Should Have Run On    host    host    host    host

Four host devices train one layer each to the paper's accuracy
    Run Federated Training    board=host    devices=4    mode=single    dataset=digits    model=64-32-10
    Final Accuracy Should Be At Least    0.85
    All Updates Should Be Bit-Exact
    Each Layer Should Be Trained By 2 Devices

QEMU mps2-an386 devices train the whole network, bit-exact, and count their instructions
    Run Federated Training    board=qemu-mps2-an386    devices=4    mode=full    rounds=${QEMU ROUNDS}
    Final Accuracy Should Be At Least    0.6
    All Updates Should Be Bit-Exact
    Every Round Should Report Device Instructions

QEMU netduinoplus2 devices train one layer each, bit-exact
    Run Federated Training    board=qemu-netduinoplus2    devices=4    mode=single    rounds=${QEMU ROUNDS}
    Final Accuracy Should Be At Least    0.5
    All Updates Should Be Bit-Exact
    Each Layer Should Be Trained By 2 Devices
    Every Round Should Report Device Instructions

A mixed fleet of a host process and two QEMU boards trains together
    Run Federated Training    board=host, qemu-mps2-an386, qemu-netduinoplus2    devices=3    mode=full
    ...    rounds=${QEMU ROUNDS}
    Devices Should Have Run On    host    qemu-mps2-an386    qemu-netduinoplus2
    Final Accuracy Should Be At Least    0.55
    All Updates Should Be Bit-Exact
    Every Round Should Report Device Instructions    boards=qemu-mps2-an386, qemu-netduinoplus2

The micro:bit trains a tiny model in its 16 KB of RAM
    Run Federated Training    board=qemu-microbit    devices=2    mode=full    model=64-12-10
    ...    rounds=${QEMU ROUNDS}
    Final Accuracy Should Be At Least    0.4
    All Updates Should Be Bit-Exact
    Every Round Should Report Device Instructions

Renode nRF52840 devices train the whole network, bit-exact
    [Tags]    renode
    Skip Unless Board Can Run    renode-nrf52840
    Run Federated Training    board=renode-nrf52840    devices=2    mode=full    rounds=3
    All Updates Should Be Bit-Exact
    Every Round Should Report Device Instructions

Renode STM32F4 devices train one layer each, bit-exact
    [Tags]    renode
    Skip Unless Board Can Run    renode-stm32f4
    Run Federated Training    board=renode-stm32f4    devices=2    mode=single    rounds=3
    All Updates Should Be Bit-Exact
    Each Layer Should Be Trained By 1 Device
    Every Round Should Report Device Instructions
