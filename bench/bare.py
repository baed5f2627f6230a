"""The baseline: bare Flask under the same gunicorn settings, answering a fixed TwiML menu.

No database, no signature check, no flow: whatever the service spends beyond
this is the cost of the line itself.
"""

from flask import Flask, Response

# The service's own answer to a new call, byte for byte, so both send as much.
MENU = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Say language="en-US" voice="Polly.Joanna-Neural">Thank you for calling OfficeSpace Software Support.</Say>'
    '<Gather action="/voice/gather/choose_level" actionOnEmptyResult="true" hints="basic, product, how to, how do i, question, '
    "feature, help, non technical, basic product support, basic, technical, problem, error, bug, data, lost data, floor plan, "
    "layout, technical support, technical, critical, down, outage, emergency, not working, total loss, urgent, critical "
    'technical support, critical" input="dtmf speech" language="en-US" method="POST" numDigits="1" speechTimeout="auto" '
    'timeout="6"><Say language="en-US" voice="Polly.Joanna-Neural">Please choose a support level. For Basic Product Support, '
    "covering how-to questions, using current features, and other non-technical requests, press 1 or say basic product "
    "support. For Technical Support, covering problems in the service, loss of data affecting your operations, and floor "
    "plan layout updates, press 2 or say technical support. For Critical Technical Support, covering a down system or a "
    "total loss of core functionality, press 3 or say critical technical support. To hear these options again, press "
    'star.</Say></Gather><Redirect method="POST">/voice/gather/choose_level</Redirect></Response>'
)

app = Flask(__name__)


@app.post("/voice/<path:_anything>")
def menu(_anything: str) -> Response:
    """Answer any webhook with the fixed menu."""
    return Response(MENU, mimetype="text/xml")
