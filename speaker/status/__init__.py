"""What the speaker reports: the status CRs and Events (:mod:`.crs`, :mod:`.assignments`), and the gRPC status
service read by ``ironlbctl status`` (:mod:`.grpc_server`, fed by :mod:`.snapshot`)."""
