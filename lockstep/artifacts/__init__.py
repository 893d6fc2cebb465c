"""Versioned artifacts with lineage: metadata in the database, content-addressed blobs beside it."""

from lockstep.artifacts.store import Artifact, ArtifactStore, BlobStore

__all__ = ["Artifact", "ArtifactStore", "BlobStore"]
