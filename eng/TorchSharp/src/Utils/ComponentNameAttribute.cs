// [ComponentName]: the name under which RegisterComponents registers a field (TorchSharp.Utils).
namespace TorchSharp.Utils
{
    /// <summary>
    /// Gives a module field the name it is registered under (and so its state_dict key) instead of the
    /// field's own name.
    /// </summary>
    public class ComponentNameAttribute : Attribute
    {
        /// <summary>The component name.</summary>
        public string Name { get; set; } = null!;
    }
}
