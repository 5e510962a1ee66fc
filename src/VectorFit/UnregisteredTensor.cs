using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// A tensor a module owns but must not register: held behind this wrapper, a field is invisible to
/// TorchSharp's <c>RegisterComponents</c> (which turns every <c>Tensor</c> field into a buffer). The
/// owning module moves it in its <c>_to</c> overrides and disposes it in <c>Dispose(bool)</c>.
/// </summary>
internal sealed class UnregisteredTensor : IDisposable
{
    /// <summary>Takes ownership of <paramref name="value"/>, which must already be detached from dispose scopes.</summary>
    public UnregisteredTensor(Tensor value) => Value = value;

    /// <summary>The owned tensor.</summary>
    public Tensor Value { get; private set; }

    /// <summary>Converts and/or moves the tensor, replacing (and disposing) the old handle.</summary>
    public void MoveTo(ScalarType? dtype, Device? device)
    {
        // Tensor.to always returns a new handle (sharing storage when nothing changes), so the old one goes.
        Value = Value.to(dtype ?? Value.dtype, device ?? Value.device, disposeAfter: true).DetachFromDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose() => Value.Dispose();
}
