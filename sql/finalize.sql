-- Nothing in clerk_sync is callable by PUBLIC: the owner grants what each role needs
-- (see the README's "Privileges").
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA clerk_sync FROM PUBLIC;
