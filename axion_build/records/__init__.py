"""What each run did: the record model, the SQL store and spool, reporter, reports."""
