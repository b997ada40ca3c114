*** Settings ***
Documentation     One training epoch on the firmware under Renode gives, bit for bit,
...               the weights and biases the NumPy reference computes: the model is
...               written, trained on the device, and read back, every answer compared
...               with the bytes make_frames.py derived from tifed_models.
Resource          tifed.resource

*** Test Cases ***
One Training Epoch Matches The Reference
    Start TIFeD Machine
    FOR    ${step}    IN    @{TRAIN_EXCHANGE}
        Exchange    ${step}
    END
