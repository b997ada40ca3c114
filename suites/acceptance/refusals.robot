*** Settings ***
Documentation     Bad input is refused before any device starts: `tifed run` exits
...               with code 2 and one line on stderr that says what is wrong, with no
...               traceback and no results written.
Resource          acceptance.resource
Test Timeout      5 minutes
Test Teardown     Stop The Fleet

*** Test Cases ***
An unknown board is refused, naming the boards there are
    Try To Run Federated Training    board=arduino-uno    devices=2    mode=full
    The Run Should Be Refused With    unknown board 'arduino-uno'
    The Run Should Be Refused With    qemu-mps2-an386

A malformed model is refused
    Try To Run Federated Training    board=sim    devices=2    mode=full    model=64-x-10
    The Run Should Be Refused With    malformed model spec '64-x-10'

Single-layer mode refuses a device count that is not a multiple of the layers
    Try To Run Federated Training    board=sim    devices=3    mode=single    model=64-32-10
    The Run Should Be Refused With    number of devices (3) to be a multiple of the number of layers (2)

A data set path that cannot be read is refused
    Try To Run Federated Training    board=sim    devices=2    mode=full    dataset=idx:/nonexistent/mnist
    The Run Should Be Refused With    /nonexistent/mnist is not a readable directory

The micro:bit refuses a model too big for its RAM, saying how many bytes it needs and has
    Start A Fleet Of qemu-microbit x 1
    ${has}=    RAM Arena Reported By Device 0
    Stop The Fleet
    ${needs}=    RAM Arena Needed By Model    64-32-10
    Try To Run Federated Training    board=qemu-microbit    devices=2    mode=full    model=64-32-10
    The Run Should Be Refused With    needs ${needs} bytes of RAM arena
    The Run Should Be Refused With    board qemu-microbit has ${has}
