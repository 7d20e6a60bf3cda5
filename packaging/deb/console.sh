# The connector's console commands work on the appliance's state file.
export SPACES_CONNECTOR_DATA_DIR=/var/lib/spaces-connector
