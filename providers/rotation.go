package providers

import "context"

// CreatedKeys is implemented by Creators whose new keys can be found again by
// the name they were created with (CreateRequest.Name) and deleted by id,
// without their secret. Crash-safe rotation (providers/vault) uses it to clean
// up a key that an attempt created and died before recording: the name it
// gives is unique to the rotation, so a redelivery finds exactly the keys that
// attempt made. A Creator without it leaves such a key for a human, and the
// rotation says so.
type CreatedKeys interface {
	// FindCreated lists the keys created under r.Name (Credential.Secret is
	// empty; KeyID and Facts identify each key).
	FindCreated(ctx context.Context, r CreateRequest) ([]Created, error)
	// DeleteCreated deletes a key FindCreated or Create returned. A key that
	// is already gone is no error.
	DeleteCreated(ctx context.Context, c Created) error
}
