using TorchSharp;
using static TorchSharp.torch;
using VectorFit.Surgery;

namespace VectorFit.Adapters;

/// <summary>
/// The adapter's policy for NaN and ∞: an adapter never holds them. A diverged run's vectors are refused on save (nothing
/// is written) and a file holding them is refused on load (the model is unchanged). Frozen base tensors may hold any value:
/// they are the user's base model, fingerprinted by their bytes.
/// </summary>
internal static class NonFiniteValues
{
    /// <summary>Whether a floating-point or complex tensor holds a NaN or infinite value (other dtypes cannot).</summary>
    public static bool Any(Tensor tensor)
    {
        if (!torch.is_floating_point(tensor.dtype) && !torch.is_complex(tensor.dtype))
        {
            return false;
        }

        using var scope = torch.NewDisposeScope();
        return !tensor.detach().isfinite().all().item<bool>();
    }

    /// <summary>Throws, naming them, when any of the tensors to save holds NaN or ∞.</summary>
    public static void RejectOnSave(List<KeyValuePair<string, Tensor>> tensors, string path)
    {
        var bad = tensors.Where(t => Any(t.Value)).Select(t => t.Key).ToList();
        if (bad.Count > 0)
        {
            throw new InvalidOperationException(
                $"Cannot save the adapter to '{path}': {NameMatch.Sample(bad)} hold NaN or infinite values, so training has diverged and the adapter " +
                "would make every model it is loaded into output NaN. Nothing was written. Restore a finite checkpoint (or lower the learning rate) and train again.");
        }
    }
}
