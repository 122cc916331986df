echo installed
%postun
echo injected
