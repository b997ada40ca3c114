*** Settings ***
Documentation     The firmware under Renode answers a real IDENTIFY frame with status OK
...               and its own board name. Board: -v BOARD:renode-nrf52840 (default) or
...               -v BOARD:renode-stm32f4.
Resource          tifed.resource

*** Test Cases ***
IDENTIFY Answers OK With The Board Name
    Start TIFeD Machine
    TifedUart.Send Frame    @{IDENTIFY_REQUEST}
    ${answer}=    TifedUart.Wait For Answer    ${IDENTIFY_ANSWER}[${BOARD}]    ${UART_TIMEOUT}
    ${name}=    Evaluate    $BOARD.encode("ascii")
    Should Contain    ${answer}    ${name}
