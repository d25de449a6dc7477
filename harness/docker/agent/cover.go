package agent

import (
	"context"
	"net/http"

	"github.com/ares-torture/torture/ares"
)

// CoverRequest is a coverable write (ares.Client.CoverWrite): Value under
// Key if Base is still its latest version.
type CoverRequest struct {
	Client string `json:"client"`
	Key    string `json:"key"`
	Base   Tag    `json:"base"`
	Value  []byte `json:"value"`
}

// CoverResponse is a coverable write's result: Covered with the latest
// Value, or the new version in Info.
type CoverResponse struct {
	Covered bool   `json:"covered"`
	Value   []byte `json:"value,omitempty"`
	Info    *Info  `json:"info,omitempty"`
}

func (s *Server) cover(w http.ResponseWriter, r *http.Request) {
	var req CoverRequest
	c, ctx, cancel, ok := s.begin(w, r, &req, &req.Client)
	if !ok {
		return
	}
	defer cancel()
	res, err := c.CoverWrite(ctx, req.Key, ares.Tag{TS: req.Base.TS, WID: req.Base.WID}, req.Value)
	if err != nil {
		s.opError(w, "cover-write", req.Key, err)
		return
	}
	reply(w, CoverResponse{Covered: res.Covered, Value: res.Value, Info: infoOf(res.OpInfo)})
}

// CoverWrite writes value under key if base is still its latest version.
func (c *Client) CoverWrite(ctx context.Context, key string, base ares.Tag, value []byte) (ares.CoverResult, error) {
	var resp CoverResponse
	req := CoverRequest{Client: c.id, Key: key, Base: Tag{TS: base.TS, WID: base.WID}, Value: value}
	if err := c.call(ctx, "cover", req, &resp); err != nil {
		return ares.CoverResult{}, err
	}
	return ares.CoverResult{OpInfo: resp.Info.OpInfo(), Covered: resp.Covered, Value: resp.Value}, nil
}
