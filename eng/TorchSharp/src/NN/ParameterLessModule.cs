// Base classes of modules that have no parameters or buffers: moving them is a no-op.
using static TorchSharp.torch;

namespace TorchSharp
{
    namespace Modules
    {
        /// <summary>Marks a module that has no parameters or buffers.</summary>
        public interface IParameterLessModule
        {
        }

        /// <summary>A one-input module without parameters or buffers.</summary>
        public abstract class ParameterLessModule<T1, TResult> : nn.Module<T1, TResult>, IParameterLessModule
        {
            protected ParameterLessModule(string name) : base(name) { }

            protected internal override nn.Module _to(Device device, ScalarType dtype, bool non_blocking) => this;
            protected internal override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking) => this;
            protected internal override nn.Module _to(ScalarType dtype, bool non_blocking) => this;

            public override void register_buffer(string name, Tensor tensor, bool persistent = true) => throw ParameterLess.NoBuffers();
            public override void register_parameter(string name, Parameter param) => throw ParameterLess.NoParameters();
            public override void register_module(string name, nn.Module submodule)
            {
                ParameterLess.CheckSubmodule(submodule);
                base.register_module(name, submodule);
            }
        }

        /// <summary>A two-input module without parameters or buffers.</summary>
        public abstract class ParameterLessModule<T1, T2, TResult> : nn.Module<T1, T2, TResult>, IParameterLessModule
        {
            protected ParameterLessModule(string name) : base(name) { }

            protected internal override nn.Module _to(Device device, ScalarType dtype, bool non_blocking) => this;
            protected internal override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking) => this;
            protected internal override nn.Module _to(ScalarType dtype, bool non_blocking) => this;

            public override void register_buffer(string name, Tensor tensor, bool persistent = true) => throw ParameterLess.NoBuffers();
            public override void register_parameter(string name, Parameter param) => throw ParameterLess.NoParameters();
            public override void register_module(string name, nn.Module submodule)
            {
                ParameterLess.CheckSubmodule(submodule);
                base.register_module(name, submodule);
            }
        }

        /// <summary>A three-input module without parameters or buffers.</summary>
        public abstract class ParameterLessModule<T1, T2, T3, TResult> : nn.Module<T1, T2, T3, TResult>, IParameterLessModule
        {
            protected ParameterLessModule(string name) : base(name) { }

            protected internal override nn.Module _to(Device device, ScalarType dtype, bool non_blocking) => this;
            protected internal override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking) => this;
            protected internal override nn.Module _to(ScalarType dtype, bool non_blocking) => this;

            public override void register_buffer(string name, Tensor tensor, bool persistent = true) => throw ParameterLess.NoBuffers();
            public override void register_parameter(string name, Parameter param) => throw ParameterLess.NoParameters();
            public override void register_module(string name, nn.Module submodule)
            {
                ParameterLess.CheckSubmodule(submodule);
                base.register_module(name, submodule);
            }
        }

        /// <summary>A four-input module without parameters or buffers.</summary>
        public abstract class ParameterLessModule<T1, T2, T3, T4, TResult> : nn.Module<T1, T2, T3, T4, TResult>, IParameterLessModule
        {
            protected ParameterLessModule(string name) : base(name) { }

            protected internal override nn.Module _to(Device device, ScalarType dtype, bool non_blocking) => this;
            protected internal override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking) => this;
            protected internal override nn.Module _to(ScalarType dtype, bool non_blocking) => this;

            public override void register_buffer(string name, Tensor tensor, bool persistent = true) => throw ParameterLess.NoBuffers();
            public override void register_parameter(string name, Parameter param) => throw ParameterLess.NoParameters();
            public override void register_module(string name, nn.Module submodule)
            {
                ParameterLess.CheckSubmodule(submodule);
                base.register_module(name, submodule);
            }
        }

        /// <summary>A five-input module without parameters or buffers.</summary>
        public abstract class ParameterLessModule<T1, T2, T3, T4, T5, TResult> : nn.Module<T1, T2, T3, T4, T5, TResult>, IParameterLessModule
        {
            protected ParameterLessModule(string name) : base(name) { }

            protected internal override nn.Module _to(Device device, ScalarType dtype, bool non_blocking) => this;
            protected internal override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking) => this;
            protected internal override nn.Module _to(ScalarType dtype, bool non_blocking) => this;

            public override void register_buffer(string name, Tensor tensor, bool persistent = true) => throw ParameterLess.NoBuffers();
            public override void register_parameter(string name, Parameter param) => throw ParameterLess.NoParameters();
            public override void register_module(string name, nn.Module submodule)
            {
                ParameterLess.CheckSubmodule(submodule);
                base.register_module(name, submodule);
            }
        }

        /// <summary>A six-input module without parameters or buffers.</summary>
        public abstract class ParameterLessModule<T1, T2, T3, T4, T5, T6, TResult> : nn.Module<T1, T2, T3, T4, T5, T6, TResult>, IParameterLessModule
        {
            protected ParameterLessModule(string name) : base(name) { }

            protected internal override nn.Module _to(Device device, ScalarType dtype, bool non_blocking) => this;
            protected internal override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking) => this;
            protected internal override nn.Module _to(ScalarType dtype, bool non_blocking) => this;

            public override void register_buffer(string name, Tensor tensor, bool persistent = true) => throw ParameterLess.NoBuffers();
            public override void register_parameter(string name, Parameter param) => throw ParameterLess.NoParameters();
            public override void register_module(string name, nn.Module submodule)
            {
                ParameterLess.CheckSubmodule(submodule);
                base.register_module(name, submodule);
            }
        }

        internal static class ParameterLess
        {
            internal static InvalidOperationException NoBuffers() => new("Cannot register a buffer on a module that is declared 'parameter-less.'");

            internal static InvalidOperationException NoParameters() => new("Cannot register a parameter on a module that is declared 'parameter-less.'");

            internal static void CheckSubmodule(nn.Module submodule)
            {
                if (submodule is not IParameterLessModule)
                    throw new InvalidOperationException("Submodules of a parameter-less module must also be parameter-less.");
            }
        }
    }
}
